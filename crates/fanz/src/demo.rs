//! Demo data: a few creators on different clusters, a fan, an admin and a bookkeeper (the
//! finance role, for the ledger examples in the README). Idempotent: accounts that exist are
//! left alone; new ones get a random password printed once, with their user id.

use anyhow::Result;
use fanz_audit::Actor;
use fanz_content::{Money, NewPost, NewTier, PostKind, Visibility};
use fanz_core::Role;
use fanz_profiles::{Link, ProfileUpdate};
use fanz_web::AppState;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct DemoUser {
    handle: &'static str,
    name: &'static str,
    bio: &'static str,
    clusters: &'static [&'static str],
    roles: &'static [Role],
}

const USERS: &[DemoUser] = &[
    DemoUser {
        handle: "neon_nate",
        name: "Neon Nate",
        bio: "Gym, neon and late-night streams.",
        clusters: &["boyfanz", "jockfanz"],
        roles: &[Role::Creator],
    },
    DemoUser {
        handle: "pink_pixel",
        name: "Pink Pixel",
        bio: "Cosplay, pastel and pixel art.",
        clusters: &["girlfanz", "egirlfanz", "nerdfanz"],
        roles: &[Role::Creator],
    },
    DemoUser {
        handle: "good_pup",
        name: "Good Pup Rex",
        bio: "Woof. Gear, play and pack life.",
        clusters: &["pupfanz"],
        roles: &[Role::Creator],
    },
    DemoUser {
        handle: "daddy_d",
        name: "Daddy D",
        bio: "Leather, rules and rewards.",
        clusters: &["daddyfanz", "dilffanz"],
        roles: &[Role::Creator],
    },
    DemoUser {
        handle: "tara_turq",
        name: "Tara Turquoise",
        bio: "Trans, proud and glowing.",
        clusters: &["transfanz"],
        roles: &[Role::Creator],
    },
    DemoUser {
        handle: "swipe_sam",
        name: "Swipe Sam",
        bio: "Short clips, every day.",
        clusters: &["fanzcock", "fanzclips"],
        roles: &[Role::Creator],
    },
    DemoUser {
        handle: "fan_fiona",
        name: "Fiona",
        bio: "",
        clusters: &[],
        roles: &[],
    },
    DemoUser {
        handle: "ops_admin",
        name: "Operator",
        bio: "Runs this server.",
        clusters: &[],
        roles: &[Role::Admin],
    },
    DemoUser {
        handle: "fin_books",
        name: "Bookkeeper",
        bio: "Keeps the books.",
        clusters: &[],
        roles: &[Role::Finance],
    },
];

pub async fn load(state: &AppState) -> Result<()> {
    let actor = Actor::cli();
    let mut created = Vec::new();
    for u in USERS {
        let email = format!("{}@demo.fanz.localhost", u.handle);
        let exists = {
            let mut db = state.store.conn().await?;
            fanz_profiles::get_by_handle(&mut db, u.handle)
                .await
                .is_ok()
        };
        if exists {
            continue;
        }
        let password = fanz_core::token::random_token("", 12);
        let user =
            fanz_web::flows::signup(state, &email, u.handle, &password, u.roles.to_vec(), &actor)
                .await
                .map_err(|e| anyhow::anyhow!("demo user {}: {}", u.handle, e.message))?;
        let actor = actor.with_user(user.id);
        if !u.clusters.is_empty() {
            let clusters: Vec<String> = u.clusters.iter().map(|s| s.to_string()).collect();
            fanz_web::flows::become_creator(state, user.id, &clusters, &actor)
                .await
                .map_err(|e| anyhow::anyhow!("demo creator {}: {}", u.handle, e.message))?;
        }
        let update = ProfileUpdate {
            display_name: Some(u.name.into()),
            bio: Some(u.bio.into()),
            links: (!u.clusters.is_empty()).then(|| {
                vec![Link {
                    label: "Schedule".into(),
                    url: format!("https://example.com/{}", u.handle),
                }]
            }),
            ..Default::default()
        };
        fanz_web::flows::update_profile(state, user.id, update, &actor)
            .await
            .map_err(|e| anyhow::anyhow!("demo profile {}: {}", u.handle, e.message))?;
        created.push((email, password, u.handle, user.id));
    }
    let generated = cluster_creators(state, &actor).await?;
    let verified = verify_creators(state, &actor).await?;
    if verified > 0 {
        println!("demo onboarding: {verified} creators signed the agreement and verified through the sandbox");
    }
    let posts = content(state, &actor).await?;
    let approved = reviews(state, &actor).await?;
    if approved > 0 {
        println!("demo reviews: {approved} post approved; the rest wait at /admin/reviews");
    }
    let sales = payments(state, &actor).await?;
    if unsigned_sale(state, &actor).await? {
        println!("demo payments: one CCBill sale (a processor that signs nothing) awaits finance's confirmation at /admin/payments");
    }
    if takedown(state, &actor).await? {
        println!("demo trust & safety: one post taken down after a non-consent report, with its statement of reasons");
    }
    if sales > 0 {
        println!("demo payments: {sales} sandbox sales, creators verified with sandbox payouts");
    }
    if generated > 0 || posts > 0 {
        println!("demo content: {generated} more creators across the clusters, {posts} posts");
    }
    if created.is_empty() {
        println!("demo data already present (credentials were printed when it was created)");
    } else {
        println!("demo accounts created; these passwords are shown only now:");
        for (email, password, handle, id) in created {
            println!("  {email:<36} {password:<18} @{handle:<11} user {id}");
        }
    }
    Ok(())
}

/// Every demo creator without a record signs the creator agreement and is verified through
/// the sandbox identity provider (as `/studio/verification` does), so their media and paid
/// posts pass the publish gate; one off-platform co-performer's record waits for compliance.
async fn verify_creators(state: &AppState, actor: &Actor) -> Result<usize> {
    use fanz_safety::{onboarding, records};
    let mut tx = state.store.begin().await?;
    let mut made = 0;
    let today = records::today();
    for (n, id) in fanz_profiles::creator_ids(&mut tx)
        .await?
        .into_iter()
        .enumerate()
    {
        if records::of_user(&mut tx, id).await?.is_some() {
            continue;
        }
        let actor = actor.with_user(id);
        let p = fanz_profiles::get_by_user(&mut tx, id).await?;
        let legal = p
            .display_name
            .split(" of ")
            .next()
            .unwrap_or(&p.handle)
            .to_owned();
        let legal = format!("{legal} Example");
        onboarding::sign(
            &mut tx,
            id,
            onboarding::AGREEMENT_VERSION,
            &legal,
            None,
            &actor,
        )
        .await?;
        let born = format!("{}-0{}-1{}", 1988 + n % 10, 1 + n % 9, n % 10);
        let expires = records::format_date(today.replace_year(today.year() + 4).unwrap_or(today));
        let facts = records::check_facts(
            &legal,
            &born,
            std::slice::from_ref(&p.handle),
            "passport",
            "US",
            &expires,
            today,
        )
        .map_err(|e| anyhow::anyhow!("demo record of {}: {e}", p.handle))?;
        let doc = vec![(
            "id_front".to_owned(),
            "image/png",
            onboarding::PLACEHOLDER_PNG.to_vec(),
        )];
        records::from_provider(
            &mut tx,
            &state.verification.keyring,
            id,
            "sandbox",
            &facts,
            &doc,
            &actor,
        )
        .await?;
        onboarding::sync_payouts(&mut tx, &state.payments, id, today, &actor).await?;
        if made == 0 {
            // A co-performer of the first creator, submitted for a compliance officer to check.
            let release = b"%PDF-1.4\n% demo model release, signed\n".to_vec();
            let req = records::NewPerformer {
                legal_name: "Rowan Example".into(),
                date_of_birth: "1994-07-21".into(),
                aliases: vec!["Ro".into()],
                id_type: "driving_licence".into(),
                id_country: "CA".into(),
                id_expires_on: expires.clone(),
                documents: vec![],
                own: false,
            };
            let docs = [
                (
                    "id_front".to_owned(),
                    "image/png",
                    onboarding::PLACEHOLDER_PNG.to_vec(),
                ),
                ("release".to_owned(), "application/pdf", release),
            ];
            records::submit_with(
                &mut tx,
                &state.verification.keyring,
                id,
                &req,
                &docs,
                &actor,
            )
            .await?;
        }
        made += 1;
    }
    tx.commit().await?;
    Ok(made)
}

/// A post reported as shared without consent, hidden at once and then removed by a moderator
/// with a statement of reasons to its creator (once: only while no case exists).
async fn takedown(state: &AppState, actor: &Actor) -> Result<bool> {
    use fanz_safety::{cases, reports};
    let mut tx = state.store.begin().await?;
    if !cases::list(&mut tx, None, 1).await?.is_empty()
        || !cases::list(&mut tx, Some("decided"), 1).await?.is_empty()
    {
        return Ok(false);
    }
    let Some(post) =
        fanz_content::posts::live_after(&mut tx, 0, 50, fanz_core::clock::now_micros())
            .await?
            .into_iter()
            .rev()
            .find(|p| p.visibility == fanz_content::posts::Visibility::Public)
    else {
        return Ok(false);
    };
    let now = fanz_core::clock::now_micros();
    let report = reports::NewReport {
        kind: "non_consensual".into(),
        url: format!("/p/{}", post.id),
        details: "I am in this photo and never agreed to it being posted.".into(),
        email: Some("reporter@example.com".into()),
        name: Some("A. Reporter".into()),
        good_faith: Some(true),
        ..Default::default()
    };
    let origin = reports::Origin {
        reporter_id: None,
        ip: Some("203.0.113.7".into()),
        hosts: vec![],
        per_ip_per_hour: 100,
    };
    let done = reports::submit(&mut tx, &report, &origin, now, actor).await?;
    let moderator = fanz_profiles::get_by_handle(&mut tx, "ops_admin")
        .await?
        .user_id;
    cases::decide(
        &mut tx,
        &state.content,
        &fanz_web::strike_policy(&state.config),
        done.case_id,
        "removed",
        "The person depicted told us they did not consent to this post. It is removed under our rules on consent; you may appeal within 6 months.",
        moderator,
        now,
        &actor.with_user(moderator),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Names for the generated creators: two per cluster, picked by the cluster's position.
const FIRST: &[&str] = &[
    "Ash", "Blaze", "Cleo", "Dante", "Echo", "Fox", "Gia", "Hunter", "Ivy", "Jade", "Kai", "Luna",
    "Milo", "Nova", "Onyx", "Pax", "Quinn", "Rio", "Skye", "Theo", "Uma", "Vex", "Wren", "Xan",
    "Yara", "Zed", "Ruby", "Leo", "Mara", "Nico", "Opal", "Remy", "Sage", "Tove", "Vale", "Zara",
    "Bryn", "Cass", "Dex", "Eli", "Faye", "Gus",
];

const CAPTIONS: &[&str] = &[
    "New set just dropped. Tell me which one is your favourite.",
    "Golden hour hits different. Full gallery for my subscribers.",
    "Behind the scenes from today's shoot — messy, fun, real.",
    "Morning routine, unfiltered. Coffee first, always.",
    "You asked, I delivered. Custom requests open this week.",
    "Trying something new tonight. Be gentle in the comments.",
    "Throwback to the beach trip. Still thinking about that sunset.",
    "Gym day. Legs are done, and so am I.",
    "Neon lights and late nights. Who's up?",
    "Thank you for 1,000 followers! Free post for everyone.",
    "Sneak peek of Friday's drop. Subscribers get it first.",
    "Rainy day in. Candles, playlist, and a camera.",
];

const TAGS: &[&str] = &[
    "neon", "gym", "cosplay", "latex", "outdoors", "bts", "lingerie", "tattoos", "leather",
    "couples", "solo", "fitness", "goth", "glam", "sunset", "shower", "gaming", "redhead",
];

const COMMENTS: &[&str] = &[
    "Obsessed with this one 😍",
    "The lighting here is unreal.",
    "Best post this week, no contest.",
    "Okay this made my day.",
    "Need the full set asap 🔥",
    "You never miss.",
];

/// Fans who follow, like and comment in the demo (random passwords, never shown): fan_fiona
/// and fifteen more.
async fn demo_fans(state: &AppState, actor: &Actor) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    let mut handles = vec!["fan_fiona".to_string()];
    handles.extend((1..=15).map(|i| format!("fan_{i:02}")));
    for handle in handles {
        let mut db = state.store.conn().await?;
        if let Ok(p) = fanz_profiles::get_by_handle(&mut db, &handle).await {
            ids.push(p.user_id);
            continue;
        }
        drop(db);
        let email = format!("{handle}@demo.fanz.localhost");
        let password = fanz_core::token::random_token("", 24);
        let user = fanz_web::flows::signup(state, &email, &handle, &password, vec![], actor)
            .await
            .map_err(|e| anyhow::anyhow!("demo fan {handle}: {}", e.message))?;
        ids.push(user.id);
    }
    Ok(ids)
}

/// Two generated creators on every cluster that takes posts and has fewer than two: profile,
/// clusters and the creator role. Returns how many were made.
async fn cluster_creators(state: &AppState, actor: &Actor) -> Result<usize> {
    let mut made = 0;
    for (i, c) in state.clusters.all().iter().enumerate() {
        if c.policy.categories.is_empty() || c.policy.feed == fanz_clusters::Feed::Vertical {
            continue;
        }
        for k in 0..2 {
            let name = FIRST[(i * 2 + k) % FIRST.len()];
            let handle = format!(
                "{}_{}",
                name.to_lowercase(),
                c.slug.trim_end_matches("fanz")
            );
            let handle: String = handle.chars().take(30).collect();
            let exists = {
                let mut db = state.store.conn().await?;
                fanz_profiles::get_by_handle(&mut db, &handle).await.is_ok()
            };
            if exists {
                continue;
            }
            let email = format!("{handle}@demo.fanz.localhost");
            // Nobody signs in as a generated creator: the password is random and never shown.
            let password = fanz_core::token::random_token("", 24);
            let user = fanz_web::flows::signup(state, &email, &handle, &password, vec![], actor)
                .await
                .map_err(|e| anyhow::anyhow!("demo creator {handle}: {}", e.message))?;
            let actor = actor.with_user(user.id);
            fanz_web::flows::become_creator(state, user.id, std::slice::from_ref(&c.slug), &actor)
                .await
                .map_err(|e| anyhow::anyhow!("demo creator {handle}: {}", e.message))?;
            let update = ProfileUpdate {
                display_name: Some(format!("{name} of {}", c.name)),
                bio: Some(format!("{} · new posts every week.", c.tagline)),
                ..Default::default()
            };
            fanz_web::flows::update_profile(state, user.id, update, &actor)
                .await
                .map_err(|e| anyhow::anyhow!("demo profile {handle}: {}", e.message))?;
            made += 1;
        }
    }
    Ok(made)
}

/// Tiers, posts, follows, likes and comments for every demo creator without posts.
async fn content(state: &AppState, actor: &Actor) -> Result<usize> {
    let mut rng = StdRng::seed_from_u64(20261202);
    let mut db = state.store.conn().await?;
    let creators: Vec<fanz_profiles::Profile> = {
        let mut all = Vec::new();
        for c in state.clusters.all() {
            all.extend(fanz_profiles::creators_on(&mut db, &c.slug, 1000).await?);
        }
        all.sort_by_key(|p| p.user_id);
        all.dedup_by_key(|p| p.user_id);
        all
    };
    drop(db);
    let fan_ids = demo_fans(state, actor).await?;
    let mut commenter = 0usize;
    let mut posted = 0;
    for creator in &creators {
        let mut tx = state.store.begin().await?;
        let mine = fanz_content::posts::by_author_all(&mut tx, creator.user_id, None, 1).await?;
        if !mine.is_empty() {
            continue;
        }
        // Short-video clusters take videos only; the demo has no video yet.
        let clusters: Vec<String> = creator
            .clusters
            .iter()
            .filter(|slug| {
                state
                    .clusters
                    .get(slug)
                    .is_some_and(|c| c.policy.feed != fanz_clusters::Feed::Vertical)
            })
            .cloned()
            .collect();
        if clusters.is_empty() {
            continue;
        }
        let actor = actor.with_user(creator.user_id);
        let usd = |amount| Money {
            amount,
            currency: "USD".into(),
        };
        fanz_content::tiers::create(
            &mut tx,
            creator.user_id,
            NewTier {
                name: "Fan club".into(),
                price: usd(0),
                period_days: None,
                benefits: "Free posts and a hello in the DMs.".into(),
            },
            &actor,
        )
        .await?;
        let vip = fanz_content::tiers::create(
            &mut tx,
            creator.user_id,
            NewTier {
                name: "VIP".into(),
                price: usd(rng.gen_range(5..20) * 100 - 1),
                period_days: None,
                benefits: "Every post, full sets, weekly videos.".into(),
            },
            &actor,
        )
        .await?;
        // A category every cluster that takes posts allows.
        let category = "general".to_string();
        let n = rng.gen_range(5..9);
        for j in 0..n {
            let visibility = match j % 4 {
                0 | 3 => Visibility::Public,
                1 => Visibility::Subscribers,
                _ => {
                    if rng.gen_bool(0.5) {
                        Visibility::Ppv
                    } else {
                        Visibility::Followers
                    }
                }
            };
            let tags = (0..rng.gen_range(1..4))
                .map(|_| TAGS[rng.gen_range(0..TAGS.len())].to_string())
                .collect();
            let new = NewPost {
                kind: PostKind::Post,
                text: CAPTIONS[rng.gen_range(0..CAPTIONS.len())].to_string(),
                visibility,
                clusters: Some(clusters.clone()),
                tiers: if visibility == Visibility::Subscribers && rng.gen_bool(0.5) {
                    vec![vip.id]
                } else {
                    vec![]
                },
                price: (visibility == Visibility::Ppv).then(|| usd(rng.gen_range(3..25) * 100 - 1)),
                publish_at: None,
                expires_at: None,
                media: vec![],
                tags,
                category: Some(category.clone()),
                sensitive: false,
                teaser: None,
                publish: true,
            };
            // On a cluster that reviews posts they wait in the review queue.
            let (post, _) =
                fanz_web::flows::create_post(&mut tx, &state.content, creator.user_id, new, &actor)
                    .await?;
            posted += 1;
            if visibility == Visibility::Public && post.state == fanz_content::PostState::Published
            {
                for fan in &fan_ids {
                    if rng.gen_bool(0.6) {
                        let v = fanz_content::Viewer::user(*fan);
                        fanz_content::interactions::like(
                            &mut tx,
                            v,
                            &Actor::cli().with_user(*fan),
                            post.id,
                        )
                        .await?;
                    }
                }
                if rng.gen_bool(0.4) {
                    commenter += 1;
                    if let Some(fan) = fan_ids.get(commenter % fan_ids.len().max(1)) {
                        let v = fanz_content::Viewer::user(*fan);
                        fanz_content::interactions::comment(
                            &mut tx,
                            v,
                            &Actor::cli().with_user(*fan),
                            post.id,
                            fanz_content::interactions::NewComment {
                                text: COMMENTS[commenter % COMMENTS.len()].into(),
                                parent_id: None,
                            },
                        )
                        .await?;
                    }
                }
            }
        }
        // A story, live for a day.
        let story = NewPost {
            kind: PostKind::Story,
            text: "Good morning from the studio ☀️".into(),
            visibility: Visibility::Followers,
            clusters: Some(clusters.clone()),
            tiers: vec![],
            price: None,
            publish_at: None,
            expires_at: None,
            media: vec![],
            tags: vec![],
            category: Some(category),
            sensitive: false,
            teaser: None,
            publish: true,
        };
        fanz_web::flows::create_post(&mut tx, &state.content, creator.user_id, story, &actor)
            .await?;
        for fan in &fan_ids {
            fanz_profiles::set_following(
                &mut tx,
                *fan,
                &creator.handle,
                true,
                &Actor::cli().with_user(*fan),
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(posted)
}

/// Review before publication: TabooFanz reviews every post, so its demo posts wait in the
/// queue; the demo admin approves the oldest one (once), and the rest stay waiting.
async fn reviews(state: &AppState, actor: &Actor) -> Result<usize> {
    let mut tx = state.store.begin().await?;
    if !fanz_safety::review::list(&mut tx, Some("approved"), None, 1)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let mut pending = fanz_safety::review::list(&mut tx, None, None, 500).await?;
    pending.sort_by_key(|r| (r.requested_at, r.id));
    let Some(first) = pending.first() else {
        return Ok(0);
    };
    let admin = fanz_profiles::get_by_handle(&mut tx, "ops_admin").await?;
    fanz_safety::review::decide(
        &mut tx,
        &state.content,
        first.id,
        "approve",
        "demo: fits the cluster's rules",
        admin.user_id,
        fanz_core::clock::now_micros(),
        &actor.with_user(admin.user_id),
    )
    .await?;
    tx.commit().await?;
    Ok(1)
}

/// Demo money, when the sandbox processor is on: every creator verified with a weekly sandbox
/// payout method; two demo fans subscribe to each creator's paid tier and one tips, each
/// through the sandbox's signed notifications and the real intake; then one payout round.
/// Skips creators who already have sales.
async fn payments(state: &AppState, actor: &Actor) -> Result<usize> {
    use fanz_payments::checkout::{self, CheckoutRequest, Kind};
    use fanz_processors::{Event, EventKind, Money};
    if !state.payments.config.sandbox {
        return Ok(0);
    }
    let mut db = state.store.conn().await?;
    let mut creators = Vec::new();
    for c in state.clusters.all() {
        creators.extend(fanz_profiles::creators_on(&mut db, &c.slug, 1000).await?);
    }
    creators.sort_by_key(|p| p.user_id);
    creators.dedup_by_key(|p| p.user_id);
    drop(db);
    let fans = demo_fans(state, actor).await?;
    let mut sales = 0;
    for (n, creator) in creators.iter().enumerate() {
        let mut tx = state.store.begin().await?;
        if !fanz_payments::apply::charges_of_creator(&mut tx, creator.user_id, 1)
            .await?
            .is_empty()
        {
            continue;
        }
        let cactor = actor.with_user(creator.user_id);
        fanz_payments::payouts::configure(
            &mut tx,
            &state.payments,
            creator.user_id,
            &fanz_payments::payouts::PayoutSettings {
                method: "sandbox".into(),
                destination: format!("{} (sandbox)", creator.handle),
                schedule: Some("weekly".into()),
                minimum: Some(state.payments.config.payout_minimum),
                currency: None,
            },
            &cactor,
        )
        .await?;
        fanz_payments::payouts::set_verified(
            &mut tx,
            &state.payments,
            creator.user_id,
            true,
            actor,
        )
        .await?;
        let paid = fanz_content::tiers::list(&mut tx, creator.user_id, false)
            .await?
            .into_iter()
            .find(|t| !t.is_free());
        let mut orders = Vec::new();
        for k in 0..3 {
            let Some(&fan) = fans.get((n * 3 + k) % fans.len().max(1)) else {
                break;
            };
            let req = match (k, &paid) {
                (0 | 1, Some(t)) => CheckoutRequest {
                    kind: Kind::Subscription,
                    processor: "sandbox".into(),
                    tier_id: Some(t.id),
                    period_days: None,
                    promo_code: None,
                    post_id: None,
                    creator_id: None,
                    amount: None,
                    currency: None,
                    message: None,
                },
                _ => CheckoutRequest {
                    kind: Kind::Tip,
                    processor: "sandbox".into(),
                    tier_id: None,
                    period_days: None,
                    promo_code: None,
                    post_id: None,
                    creator_id: Some(creator.user_id),
                    amount: Some(1500),
                    currency: Some("USD".into()),
                    message: Some("Love your work!".into()),
                },
            };
            match checkout::create(
                &mut tx,
                &state.payments,
                fan,
                "boyfanz",
                &req,
                &actor.with_user(fan),
            )
            .await
            {
                Ok(s) => orders.push(s.checkout),
                Err(fanz_payments::PaymentsError::Conflict(_)) => {}
                Err(e) => return Err(anyhow::anyhow!("demo checkout: {e}")),
            }
        }
        tx.commit().await?;
        for c in orders {
            let mut e = Event::new(
                EventKind::SaleApproved,
                format!("demo_sale_{}", c.reference),
            );
            e.reference = Some(c.reference.clone());
            e.transaction = Some(format!("demo_txn_{}", c.reference));
            if c.kind == Kind::Subscription {
                e.subscription = Some(format!("demo_sub_{}", c.reference));
            }
            e.amount = Some(Money::new(c.amount, &c.currency));
            e.fee = Some(fanz_payments::sandbox::fee(c.amount));
            fanz_payments::sandbox::send(&state.store, &state.payments, &e).await?;
            sales += 1;
        }
    }
    if sales > 0 {
        let mut tx = state.store.begin().await?;
        fanz_payments::payouts::schedule_due(
            &mut tx,
            &state.payments,
            fanz_core::clock::now_micros(),
            10_000,
        )
        .await?;
        fanz_payments::payouts::make_batches(&mut tx, actor).await?;
        tx.commit().await?;
    }
    Ok(sales)
}

/// The demo's CCBill account, unless the configuration has CCBill: never offered at checkout
/// (not enabled; its hosted page is CCBill's real one), no Data Link credentials, and
/// notifications accepted only from this machine. It lets the demo show a charge from a
/// processor that signs nothing waiting for finance's confirmation, and a cancel call that
/// failed for want of credentials.
pub fn ccbill_settings(p: &mut fanz_config::payments::PaymentsConfig) {
    if p.processors.values().any(|m| m.contains_key("ccbill")) {
        return;
    }
    p.processors.entry("default".into()).or_default().insert(
        "ccbill".into(),
        fanz_config::payments::ProcessorSettings {
            enabled: false,
            account: Some("900100".into()),
            sub_account: Some("0000".into()),
            secret: Some("demo-salt".into()),
            form_id: Some("demo".into()),
            allow_ips: vec!["127.0.0.1/32".into()],
            descriptor: Some("CCBILL.COM*DEMO".into()),
            ..Default::default()
        },
    );
}

/// One demo fan subscribes to the first creator's paid tier through the demo CCBill account
/// (a NewSaleSuccess webhook from this machine, through the real intake), then cancels: the
/// sale waits for finance's confirmation (no Data Link here) and the cancel call fails (no
/// credentials), so the console has something in both lists. Once: skipped when any CCBill
/// charge exists.
async fn unsigned_sale(state: &AppState, actor: &Actor) -> Result<bool> {
    use fanz_payments::checkout::{self, CheckoutRequest, Kind};
    let Some(mut settings) = state.payments.settings("boyfanz", "ccbill") else {
        return Ok(false);
    };
    if settings.account.as_deref() != Some("900100") || settings.api_user.is_some() {
        return Ok(false);
    }
    let mut db = state.store.conn().await?;
    let seen = fanz_store::sqlx::query("SELECT 1 FROM charges WHERE processor = 'ccbill' LIMIT 1")
        .fetch_optional(&mut *db)
        .await?;
    if seen.is_some() {
        return Ok(false);
    }
    let creators = fanz_profiles::creators_on(&mut db, "boyfanz", 50).await?;
    let mut tier = None;
    for c in &creators {
        if let Some(t) = fanz_content::tiers::list(&mut db, c.user_id, false)
            .await?
            .into_iter()
            .find(|t| !t.is_free())
        {
            tier = Some(t.id);
            break;
        }
    }
    drop(db);
    let fans = demo_fans(state, actor).await?;
    let (Some(tier), Some(&fan)) = (tier, fans.last()) else {
        return Ok(false);
    };
    // The checkout is opened as if CCBill were offered; the sale comes back through the intake
    // like a real webhook.
    settings.enabled = true;
    let mut config = state.payments.config.clone();
    config
        .processors
        .entry("default".into())
        .or_default()
        .insert("ccbill".into(), settings);
    let opener = fanz_payments::Payments::new(&config);
    let mut tx = state.store.begin().await?;
    let req = CheckoutRequest {
        kind: Kind::Subscription,
        processor: "ccbill".into(),
        tier_id: Some(tier),
        period_days: None,
        promo_code: None,
        post_id: None,
        creator_id: None,
        amount: None,
        currency: None,
        message: None,
    };
    let started = match checkout::create(
        &mut tx,
        &opener,
        fan,
        "boyfanz",
        &req,
        &actor.with_user(fan),
    )
    .await
    {
        Ok(s) => s,
        Err(fanz_payments::PaymentsError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(anyhow::anyhow!("demo CCBill checkout: {e}")),
    };
    tx.commit().await?;
    let c = started.checkout;
    let body = serde_json::json!({
        "subscriptionId": "0100000001", "transactionId": "0112000000000000001",
        "clientAccnum": "900100", "clientSubacc": "0000",
        "timestamp": "2026-12-01 10:00:00",
        "billedInitialPrice": fanz_processors::Money::new(c.amount, &c.currency).decimal(),
        "billedCurrencyCode": fanz_processors::currency_numeric(&c.currency).unwrap_or("840"),
        "X-fanz_ref": c.reference,
    });
    let n = fanz_processors::Inbound {
        method: "POST".into(),
        query: "clientAccnum=900100&clientSubacc=0000&eventType=NewSaleSuccess&eventGroupType=Subscription".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
        source_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
    };
    fanz_payments::intake::receive(&state.store, &state.payments, "ccbill", n).await?;
    let mut tx = state.store.begin().await?;
    if let Some(sub) = fanz_payments::subscriptions::by_checkout(&mut tx, c.id).await? {
        fanz_payments::subscriptions::cancel_own(
            &mut tx,
            &state.payments,
            fan,
            sub.id,
            &actor.with_user(fan),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

//! Demo data: a few creators on different clusters, a fan, an admin and a bookkeeper (the
//! finance role, for the ledger examples in the README). Idempotent: accounts that exist are
//! left alone; new ones get a random password printed once, with their user id.

use anyhow::Result;
use fanz_audit::Actor;
use fanz_core::Role;
use fanz_profiles::{Link, ProfileUpdate};
use fanz_web::AppState;

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

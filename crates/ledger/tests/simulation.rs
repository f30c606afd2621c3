//! A deterministic simulation in the spirit of TigerBeetle's VOPR. A seeded generator drives
//! several clients that send transfers, holds, settlements, voids and reversals; requests are
//! retried after lost responses, duplicated, sent with a reused key and another body, or
//! abandoned mid-transaction (a crash before commit); the store is restarted (closed and
//! reopened) at random. Every outcome is compared with a model of the books, and after every
//! step the ledger must verify and match the model account by account.
//!
//! Replay a failure with `FANZ_LEDGER_SIM_SEED=<seed>`; run longer with
//! `FANZ_LEDGER_SIM_SEEDS=<how many>` and `FANZ_LEDGER_SIM_STEPS=<steps per seed>`.

mod common;

use common::*;
use fanz_core::sample::SplitMix64 as Rng;
use fanz_ledger::{AccountKind, EntryInput};
use fanz_store::{Backend, Store};
use std::collections::HashMap;

const WALLETS: usize = 4;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A request a client can send (and send again).
#[derive(Clone, Debug)]
enum Req {
    Transfer {
        key: String,
        from: String,
        to: String,
        amount: i64,
    },
    Hold {
        key: String,
        wallet: String,
        amount: i64,
    },
    Settle {
        key: String,
        hold_key: String,
        amount: Option<i64>,
    },
    Void {
        key: String,
        hold_key: String,
    },
    Reverse {
        key: String,
        of_key: String,
    },
}

impl Req {
    fn key(&self) -> &str {
        match self {
            Req::Transfer { key, .. }
            | Req::Hold { key, .. }
            | Req::Settle { key, .. }
            | Req::Void { key, .. }
            | Req::Reverse { key, .. } => key,
        }
    }
}

/// What the model remembers of a committed request.
#[derive(Clone, Debug)]
struct Done {
    entry_id: i64,
    /// (account, [debits posted, credits posted, debits pending, credits pending]) as applied.
    effect: Effect,
    hold_open: bool,
    reversed: bool,
    reversible: bool,
}

/// Changes to accounts' totals: (account, [debits posted, credits posted, debits pending, credits pending]).
type Effect = Vec<(String, [i64; 4])>;

#[derive(Default)]
struct Model {
    totals: HashMap<String, [i64; 4]>,
    flags: HashMap<String, bool>, // debits must not exceed credits
    done: HashMap<String, Done>,
}

impl Model {
    /// The effect a request would have, or the error code it must get.
    fn plan(&self, r: &Req) -> Result<(Effect, bool), &'static str> {
        let mut effect = match r {
            Req::Transfer {
                from, to, amount, ..
            } => {
                vec![
                    (from.clone(), [*amount, 0, 0, 0]),
                    (to.clone(), [0, *amount, 0, 0]),
                ]
            }
            Req::Hold { wallet, amount, .. } => vec![
                (wallet.clone(), [0, 0, *amount, 0]),
                ("revenue".into(), [0, 0, 0, *amount]),
            ],
            Req::Settle {
                hold_key, amount, ..
            } => {
                let hold = self.done.get(hold_key).ok_or("no_hold")?;
                if !hold.hold_open {
                    return Err("not_pending");
                }
                let held = hold.effect[0].1[2];
                let a = amount.unwrap_or(held);
                if a <= 0 || a > held {
                    return Err("invalid_amount");
                }
                let wallet = hold.effect[0].0.clone();
                vec![
                    (wallet, [a, 0, -held, 0]),
                    ("revenue".into(), [0, a, 0, -held]),
                ]
            }
            Req::Void { hold_key, .. } => {
                let hold = self.done.get(hold_key).ok_or("no_hold")?;
                if !hold.hold_open {
                    return Err("not_pending");
                }
                let held = hold.effect[0].1[2];
                let wallet = hold.effect[0].0.clone();
                vec![
                    (wallet, [0, 0, -held, 0]),
                    ("revenue".into(), [0, 0, 0, -held]),
                ]
            }
            Req::Reverse { of_key, .. } => {
                let orig = self.done.get(of_key).ok_or("no_entry")?;
                if !orig.reversible {
                    return Err("not_reversible");
                }
                if orig.reversed {
                    return Err("not_reversible");
                }
                orig.effect
                    .iter()
                    .map(|(a, [d, c, _, _])| (a.clone(), [*c, *d, 0, 0]))
                    .collect()
            }
        };
        effect.retain(|(_, d)| d.iter().any(|v| *v != 0));
        let mut next = self.totals.clone();
        for (a, d) in &effect {
            let t = next.entry(a.clone()).or_default();
            for i in 0..4 {
                t[i] += d[i];
            }
        }
        for (a, _) in &effect {
            let t = next[a];
            if self.flags[a] && t[0] + t[2] > t[1] {
                return Err("balance_flag_violation");
            }
        }
        Ok((effect, matches!(r, Req::Hold { .. })))
    }

    fn apply(&mut self, r: &Req, entry_id: i64, effect: Effect, hold: bool) {
        for (a, d) in &effect {
            let t = self.totals.entry(a.clone()).or_default();
            for i in 0..4 {
                t[i] += d[i];
            }
        }
        match r {
            Req::Settle { hold_key, .. } | Req::Void { hold_key, .. } => {
                self.done.get_mut(hold_key).unwrap().hold_open = false;
            }
            Req::Reverse { of_key, .. } => self.done.get_mut(of_key).unwrap().reversed = true,
            _ => {}
        }
        self.done.insert(
            r.key().to_owned(),
            Done {
                entry_id,
                effect,
                hold_open: hold,
                reversed: false,
                reversible: matches!(r, Req::Transfer { .. } | Req::Settle { .. }),
            },
        );
    }
}

async fn send(store: &Store, model: &Model, r: &Req, commit: bool) -> Result<(i64, bool), String> {
    let mut tx = store.begin().await.unwrap();
    let out = match r {
        Req::Transfer {
            key,
            from,
            to,
            amount,
        } => fanz_ledger::post_entry_as(&mut tx, &transfer(key, from, to, *amount), &actor()).await,
        Req::Hold {
            key,
            wallet,
            amount,
        } => {
            let e = EntryInput {
                pending: true,
                ..transfer(key, wallet, "revenue", *amount)
            };
            fanz_ledger::post_entry_as(&mut tx, &e, &actor()).await
        }
        Req::Settle {
            key,
            hold_key,
            amount,
        } => {
            let Some(hold) = model.done.get(hold_key) else {
                return Err("no_hold".into());
            };
            fanz_ledger::post_pending_as(&mut tx, hold.entry_id, key, *amount, &actor()).await
        }
        Req::Void { key, hold_key } => {
            let Some(hold) = model.done.get(hold_key) else {
                return Err("no_hold".into());
            };
            fanz_ledger::void_pending_as(&mut tx, hold.entry_id, key, &actor()).await
        }
        Req::Reverse { key, of_key } => {
            let Some(orig) = model.done.get(of_key) else {
                return Err("no_entry".into());
            };
            fanz_ledger::reverse_entry(&mut tx, orig.entry_id, key, &actor()).await
        }
    };
    match out {
        Ok(o) => {
            if commit {
                tx.commit().await.unwrap();
            }
            Ok((o.entry.id, o.replayed))
        }
        Err(e) => Err(e.code().to_owned()),
    }
}

async fn check(store: &Store, model: &Model, seed: u64, step: u64) {
    let mut db = store.conn().await.unwrap();
    let report = fanz_ledger::verify(&mut db).await.unwrap();
    assert!(report.ok, "seed {seed} step {step}: {:?}", report.problems);
    for (code, t) in &model.totals {
        let a = fanz_ledger::get_account(&mut db, code).await.unwrap();
        assert_eq!(
            [
                a.debits_posted,
                a.credits_posted,
                a.debits_pending,
                a.credits_pending
            ],
            *t,
            "seed {seed} step {step}: {code} differs from the model"
        );
    }
}

async fn simulate(backend: Backend, seed: u64, steps: u64) {
    let Some(db) = fanz_store::testing::TestDb::new(backend).await else {
        return;
    };
    let mut store = db.store().await.unwrap();
    let mut rng = Rng(seed);
    let mut model = Model::default();
    open(&store, "cash", AccountKind::Asset, "USD", &[]).await;
    open(&store, "revenue", AccountKind::Revenue, "USD", &[]).await;
    model.flags.insert("cash".into(), false);
    model.flags.insert("revenue".into(), false);
    for w in 0..WALLETS {
        let code = format!("wallet:{w}");
        open(
            &store,
            &code,
            AccountKind::Liability,
            "USD",
            &["debits_must_not_exceed_credits"],
        )
        .await;
        model.flags.insert(code, true);
    }
    // Requests sent whose outcome the client has not seen (lost response or crash).
    let mut in_flight: Vec<Req> = Vec::new();
    let mut sent: Vec<Req> = Vec::new();
    let mut holds: Vec<String> = Vec::new();
    let mut next_key = 0u64;
    let mut stats: HashMap<&'static str, u64> = HashMap::new();
    for step in 0..steps {
        let client = rng.below(4);
        let mut key = || {
            next_key += 1;
            format!("c{client}-{next_key}")
        };
        let wallet = format!("wallet:{}", rng.below(WALLETS));
        let amount = 1 + rng.below(500) as i64;
        let roll = rng.below(100);
        let req = if roll < 5 {
            // Restart: every connection closed, the store opened again from disk.
            store.close().await;
            store = Store::connect(&db.url, 8).await.unwrap();
            store.migrate().await.unwrap();
            check(&store, &model, seed, step).await;
            *stats.entry("restarts").or_default() += 1;
            continue;
        } else if roll < 20 && !in_flight.is_empty() {
            // Retry a request whose response was lost.
            in_flight.swap_remove(rng.below(in_flight.len()))
        } else if roll < 30 && !sent.is_empty() {
            // A duplicate of something already answered.
            sent[rng.below(sent.len())].clone()
        } else if roll < 35 && !model.done.is_empty() {
            // The same key as a committed request with another body: refused, nothing written.
            let mut keys: Vec<&String> = model.done.keys().collect();
            keys.sort();
            let old = keys[rng.below(keys.len())].clone();
            let r = Req::Transfer {
                key: old,
                from: "cash".into(),
                to: wallet.clone(),
                amount: 1_000_000 + amount,
            };
            let before = fingerprint(&store).await;
            let got = send(&store, &model, &r, true).await;
            assert_eq!(
                got,
                Err("idempotency_conflict".into()),
                "seed {seed} step {step}"
            );
            assert_eq!(fingerprint(&store).await, before, "seed {seed} step {step}");
            check(&store, &model, seed, step).await;
            *stats.entry("conflicts").or_default() += 1;
            continue;
        } else if roll < 55 {
            Req::Transfer {
                key: key(),
                from: "cash".into(),
                to: wallet,
                amount,
            }
        } else if roll < 70 {
            Req::Transfer {
                key: key(),
                from: wallet,
                to: "revenue".into(),
                amount,
            }
        } else if roll < 80 {
            let r = Req::Hold {
                key: key(),
                wallet,
                amount,
            };
            holds.push(r.key().to_owned());
            r
        } else if roll < 90 && !holds.is_empty() {
            let hold_key = holds[rng.below(holds.len())].clone();
            if rng.chance(0.60) {
                let part = if rng.chance(0.50) {
                    None
                } else {
                    Some(1 + rng.below(300) as i64)
                };
                Req::Settle {
                    key: key(),
                    hold_key,
                    amount: part,
                }
            } else {
                Req::Void {
                    key: key(),
                    hold_key,
                }
            }
        } else if !sent.is_empty() {
            let of = sent[rng.below(sent.len())].key().to_owned();
            Req::Reverse {
                key: key(),
                of_key: of,
            }
        } else {
            Req::Transfer {
                key: key(),
                from: "cash".into(),
                to: wallet,
                amount,
            }
        };

        let before = fingerprint(&store).await;
        let fate = rng.below(100);
        if fate < 8 {
            // Crash before commit: the transaction is abandoned, nothing may remain.
            let _ = send(&store, &model, &req, false).await;
            assert_eq!(
                fingerprint(&store).await,
                before,
                "seed {seed} step {step}: abandoned tx left data"
            );
            in_flight.push(req);
            check(&store, &model, seed, step).await;
            *stats.entry("abandoned").or_default() += 1;
            continue;
        }
        let got = send(&store, &model, &req, true).await;
        match model.done.get(req.key()).cloned() {
            Some(prior) => {
                // Already applied: a replay, the same entry, nothing written.
                assert_eq!(
                    got,
                    Ok((prior.entry_id, true)),
                    "seed {seed} step {step}: {req:?}"
                );
                assert_eq!(
                    fingerprint(&store).await,
                    before,
                    "seed {seed} step {step}: replay wrote"
                );
                *stats.entry("replays").or_default() += 1;
            }
            None => match model.plan(&req) {
                Ok((effect, hold)) => {
                    let (id, replayed) = got.unwrap_or_else(|e| {
                        panic!("seed {seed} step {step}: {req:?} refused with {e}, the model accepts it")
                    });
                    assert!(!replayed, "seed {seed} step {step}");
                    model.apply(&req, id, effect, hold);
                    *stats.entry("applied").or_default() += 1;
                }
                Err(code) => {
                    assert_eq!(
                        got,
                        Err(code.to_owned()),
                        "seed {seed} step {step}: {req:?}"
                    );
                    assert_eq!(
                        fingerprint(&store).await,
                        before,
                        "seed {seed} step {step}: refusal wrote"
                    );
                    *stats.entry(code).or_default() += 1;
                }
            },
        }
        if fate < 20 {
            // The response was lost: the client will send it again later.
            in_flight.push(req.clone());
        }
        if !sent.iter().any(|s| s.key() == req.key()) {
            sent.push(req);
        }
        check(&store, &model, seed, step).await;
    }
    let mut stats: Vec<_> = stats.into_iter().collect();
    stats.sort();
    eprintln!("seed {seed}: {stats:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_sqlite() {
    run_seeds(Backend::Sqlite, 3, 250).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_postgres() {
    run_seeds(Backend::Postgres, 1, 200).await;
}

async fn run_seeds(backend: Backend, default_seeds: u64, default_steps: u64) {
    let steps = env_num("FANZ_LEDGER_SIM_STEPS", default_steps);
    if let Ok(seed) = std::env::var("FANZ_LEDGER_SIM_SEED") {
        let seed: u64 = seed.parse().expect("FANZ_LEDGER_SIM_SEED is a number");
        eprintln!("simulation on {backend:?}: seed {seed}, {steps} steps");
        simulate(backend, seed, steps).await;
        return;
    }
    // A new set of seeds each run, printed so a failure can be replayed.
    let base = fanz_core::clock::now_micros() as u64;
    for i in 0..env_num("FANZ_LEDGER_SIM_SEEDS", default_seeds) {
        let seed = base.wrapping_add(i.wrapping_mul(0x9E37_79B9));
        eprintln!("simulation on {backend:?}: seed {seed}, {steps} steps (FANZ_LEDGER_SIM_SEED={seed} to replay)");
        simulate(backend, seed, steps).await;
    }
}

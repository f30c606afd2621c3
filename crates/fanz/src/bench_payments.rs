//! `fanz bench payments`: processor notifications through the whole intake — signed, stored
//! raw, verified, parsed, applied once (ledger entry, charge, checkout) — side by side with
//! the same sales posted straight through the ledger's template (the reference: the cost of
//! the books alone), in the same run on the configured store.

use anyhow::{Context, Result};
use fanz_audit::Actor;
use fanz_core::Role;
use fanz_payments::checkout::{CheckoutRequest, Kind};
use fanz_processors::{Event, EventKind, Money};
use fanz_web::AppState;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct PaymentsArgs {
    /// Sale notifications to take in (and as many reference postings).
    #[arg(long, default_value_t = 10_000)]
    pub notifications: usize,
    /// Notifications in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Creators the sales are spread over.
    #[arg(long, default_value_t = 100)]
    pub creators: usize,
    /// Also time one payout round (scheduled payouts, then batches with their export files)
    /// for this many creators with a balance and a verified payout account (0: skip).
    #[arg(long, default_value_t = 0)]
    pub payout_creators: usize,
}

struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn summarize(mut lat: Vec<Duration>, wall: Duration) -> Run {
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    Run {
        rate: lat.len() as f64 / wall.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        max: *lat.last().unwrap(),
    }
}

async fn timed<F, Fut>(n: usize, concurrency: usize, f: F) -> Result<Run>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let f = Arc::new(f);
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let bar = indicatif::ProgressBar::new(n as u64);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let f = f.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = f(i).await;
            drop(permit);
            bar.inc(1);
            r.map(|_| t.elapsed())
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.push(t.await??);
    }
    bar.finish_and_clear();
    Ok(summarize(lat, started.elapsed()))
}

/// A 5.00 tip through the sandbox with its fee and reserve, as the intake posts it.
fn tip_sale(key: String, creator: i64, fan: i64) -> fanz_ledger::templates::TemplateRequest {
    fanz_ledger::templates::TemplateRequest {
        idempotency_key: key,
        currency: "USD".into(),
        amount: 500,
        creator_id: Some(creator),
        fan_id: Some(fan),
        processor: Some("sandbox".into()),
        processor_fee: Some(55),
        reserve_bps: Some(500),
        reserve_days: Some(30),
        ..Default::default()
    }
}

pub async fn payments(state: AppState, args: PaymentsArgs) -> Result<()> {
    let n = args.notifications.max(1);
    println!(
        "payments bench on {}: {n} sale notifications, {} in flight, {} creators",
        state.store.backend().name(),
        args.concurrency,
        args.creators
    );
    let actor = Actor::cli();
    let tag: u32 = rand::random();
    let mut creators = Vec::new();
    for i in 0..args.creators.max(1) {
        let u = fanz_web::flows::signup(
            &state,
            &format!("bench-c{tag:x}-{i}@bench.invalid"),
            &format!("bc{tag:x}{i}"),
            "bench password 123",
            vec![Role::Creator],
            &actor,
        )
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
        creators.push(u.id);
    }
    let fan = fanz_web::flows::signup(
        &state,
        &format!("bench-f{tag:x}@bench.invalid"),
        &format!("bf{tag:x}"),
        "bench password 123",
        vec![Role::Fan],
        &actor,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?
    .id;

    // Checkouts to pay (tips of 5.00), made ahead: n for each intake pass.
    println!("opening {} checkouts…", 2 * n);
    let mut refs = Vec::with_capacity(2 * n);
    let bar = indicatif::ProgressBar::new(2 * n as u64);
    for chunk in (0..2 * n).collect::<Vec<_>>().chunks(500) {
        let mut tx = state.store.begin().await?;
        for &i in chunk {
            let req = CheckoutRequest {
                kind: Kind::Tip,
                processor: "sandbox".into(),
                tier_id: None,
                period_days: None,
                promo_code: None,
                post_id: None,
                creator_id: Some(creators[i % creators.len()]),
                amount: Some(500),
                currency: Some("USD".into()),
                message: None,
            };
            let c = fanz_payments::checkout::create(
                &mut tx,
                &state.payments,
                fan,
                "boyfanz",
                &req,
                &actor,
            )
            .await
            .context("open a checkout (is the sandbox on? `fanz bench payments` turns it on)")?;
            refs.push(c.checkout.reference);
        }
        tx.commit().await?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    // Open every account first, one sale per creator, so neither run measures account
    // creation.
    for (i, c) in creators.iter().enumerate() {
        let mut tx = state.store.begin().await?;
        let req = tip_sale(format!("bench-warm-{tag:x}-{i}"), *c, fan);
        fanz_ledger::templates::apply(&mut tx, "tip", &req, &Actor::system()).await?;
        tx.commit().await?;
    }

    // Reference: the same sales straight through the ledger's template.
    let st = state.clone();
    let cr = Arc::new(creators.clone());
    let reference = timed(n, args.concurrency, move |i| {
        let st = st.clone();
        let cr = cr.clone();
        async move {
            let mut tx = st.store.begin().await?;
            let req = tip_sale(format!("bench-ref-{tag:x}-{i}"), cr[i % cr.len()], fan);
            fanz_ledger::templates::apply(&mut tx, "tip", &req, &Actor::system()).await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;

    // The intake: signed notification → stored → verified → parsed → applied once; first with
    // each notification in a transaction of its own, then with the group commit.
    let refs = Arc::new(refs);
    let mut single_config = state.payments.config.clone();
    single_config.intake_group_max = 1;
    let single = fanz_payments::Payments::new(&single_config);
    let one_by_one = intake_pass(&state, single, refs.clone(), 0, n, args.concurrency, tag).await?;
    let mut group_config = state.payments.config.clone();
    group_config.intake_group_max = 256;
    let grouped = fanz_payments::Payments::new(&group_config);
    let intake = intake_pass(&state, grouped, refs, n, n, args.concurrency, tag).await?;

    // Every notification applied, once.
    let mut conn = state.store.conn().await?;
    let applied: i64 = fanz_store::sqlx::query_scalar(
        "SELECT COUNT(*) FROM payment_notifications WHERE status = 'applied' AND body LIKE $1",
    )
    .bind(format!("%bench-{tag:x}-%"))
    .fetch_one(&mut *conn)
    .await?;
    anyhow::ensure!(
        applied as usize == 2 * n,
        "{applied} of {} notifications applied",
        2 * n
    );

    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10}",
        "", "per s", "p50 ms", "p99 ms", "max ms"
    );
    for (name, r) in [
        ("ledger template only (reference)", &reference),
        ("intake, a transaction per notification", &one_by_one),
        ("intake, group commit of up to 256", &intake),
    ] {
        println!(
            "{:<44} {:>10.0} {:>10.2} {:>10.2} {:>10.2}",
            name,
            r.rate,
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.max.as_secs_f64() * 1000.0
        );
    }
    println!(
        "all {} notifications applied once; the intake with group commit runs at {:.2}× the ledger posting alone ({:.2}× one transaction per notification)",
        2 * n,
        intake.rate / reference.rate,
        intake.rate / one_by_one.rate
    );
    if args.payout_creators > 0 {
        payout_round(&state, args.payout_creators, tag).await?;
    }
    Ok(())
}

/// `n` signed sale notifications for checkouts `refs[from..from + n]` through `env`'s intake.
async fn intake_pass(
    state: &AppState,
    env: fanz_payments::Payments,
    refs: Arc<Vec<String>>,
    from: usize,
    n: usize,
    concurrency: usize,
    tag: u32,
) -> Result<Run> {
    let store = state.store.clone();
    timed(n, concurrency, move |i| {
        let (store, env, refs) = (store.clone(), env.clone(), refs.clone());
        let i = from + i;
        async move {
            let mut e = Event::new(EventKind::SaleApproved, format!("bench-{tag:x}-{i}"));
            e.reference = Some(refs[i].clone());
            e.transaction = Some(format!("bench-txn-{tag:x}-{i}"));
            e.amount = Some(Money::new(500, "USD"));
            e.fee = Some(55);
            let outcome = fanz_payments::sandbox::send(&store, &env, &e).await?;
            anyhow::ensure!(
                outcome == fanz_processors::Outcome::Accepted,
                "notification {i}: {outcome:?}"
            );
            Ok(())
        }
    })
    .await
}

/// Creators with earnings and a verified weekly payout account, then one round timed:
/// scheduled payouts made, gathered into batches with their export files.
async fn payout_round(state: &AppState, creators: usize, tag: u32) -> Result<()> {
    println!("preparing {creators} creators with earnings and payout accounts…");
    let base = 1_000_000_000 + (tag as i64 % 1_000_000) * 100_000;
    let actor = Actor::system();
    let bar = indicatif::ProgressBar::new(creators as u64);
    for chunk in (0..creators).collect::<Vec<_>>().chunks(500) {
        let mut tx = state.store.begin().await?;
        for &i in chunk {
            let creator = base + i as i64;
            let req = fanz_ledger::templates::TemplateRequest {
                idempotency_key: format!("bench-payout-{tag:x}-{i}"),
                currency: "USD".into(),
                amount: 10_000,
                creator_id: Some(creator),
                processor: Some("sandbox".into()),
                ..Default::default()
            };
            fanz_ledger::templates::apply(&mut tx, "tip", &req, &actor).await?;
            let settings = fanz_payments::payouts::PayoutSettings {
                method: if i % 2 == 0 {
                    "paxum".into()
                } else {
                    "wire".into()
                },
                destination: if i % 2 == 0 {
                    format!("creator{i}@example.com")
                } else {
                    format!("Creator {i}; DE89370400440532013000")
                },
                schedule: Some("weekly".into()),
                minimum: Some(state.payments.config.payout_minimum),
                currency: None,
            };
            // Verified first: verifying an account that has a method asks for a payout at once.
            fanz_payments::payouts::set_verified(&mut tx, &state.payments, creator, true, &actor)
                .await?;
            fanz_payments::payouts::configure(&mut tx, &state.payments, creator, &settings, &actor)
                .await?;
        }
        tx.commit().await?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let started = Instant::now();
    let mut tx = state.store.begin().await?;
    let now = fanz_core::clock::now_micros();
    let made = fanz_payments::payouts::schedule_due(
        &mut tx,
        &state.payments,
        now,
        creators as i64 + 1_000,
    )
    .await?;
    let scheduled = started.elapsed();
    let batches = fanz_payments::payouts::make_batches(&mut tx, &actor).await?;
    tx.commit().await?;
    let total = started.elapsed();
    let lines: i64 = batches.iter().map(|b| b.count).sum();
    println!(
        "payout round: {made} payouts made in {:.2} s; {} batches ({lines} lines, export files) in {:.2} s more; {:.2} s in all",
        scheduled.as_secs_f64(),
        batches.len(),
        (total - scheduled).as_secs_f64(),
        total.as_secs_f64()
    );
    Ok(())
}

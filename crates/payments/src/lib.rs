//! Payments: everything between a processor and the ledger, and between the ledger and a
//! fan's access.
//!
//! - [`checkout`]: what a fan buys (subscription with bundles, trials and promo codes, PPV
//!   unlock, tip, wallet top-up, gift card), priced in integer minor units, started at a
//!   processor or paid from the wallet at once.
//! - [`intake`]: processor notifications stored raw before anything else, verified, parsed
//!   into canonical events and applied once each, in one transaction; what cannot be applied
//!   yet is retried and then listed for finance as a dead letter.
//! - [`apply`]: what each canonical event does. Money and access move together: every event
//!   posts through the ledger's templates and grants or revokes content's grants in the same
//!   transaction. Nothing grants access without an approved payment behind it.
//! - [`calls`]: a fan's cancel and finance's refund sent to the processor's API by a job
//!   with retries.
//! - [`confirm`]: charges from processors that sign nothing wait for the processor's own
//!   records (or finance) before the creator's share can be paid out.
//! - [`subscriptions`], [`wallet`], [`payouts`], [`sandbox`] and the [`jobs`].
//!
//! Owns `checkouts`, `subscriptions`, `charges`, `payment_notifications`, `payment_events`,
//! `promo_codes`, `gift_cards`, `payout_accounts`, `payouts`, `payout_batches`,
//! `payment_flags`, `processor_calls`, `charge_confirmations` and `sandbox_payments`.

pub mod apply;
pub mod calls;
pub mod checkout;
pub mod confirm;
pub mod intake;
pub mod jobs;
pub mod payouts;
pub mod privacy;
pub mod ratios;
pub mod sandbox;
pub mod subscriptions;
pub mod wallet;

use fanz_config::payments::{PaymentsConfig, ProcessorSettings};
use fanz_core::ValidationError;
use fanz_processors::Processor;
use fanz_store::sqlx;
use std::sync::Arc;

pub use fanz_processors::{Event, EventKind, Money};

/// The running server's payment settings. Cheap to clone.
#[derive(Clone)]
pub struct Payments(Arc<Inner>);

pub struct Inner {
    pub config: PaymentsConfig,
    /// The sandbox's signing key (configured, or random for this process).
    pub sandbox_secret: String,
    /// Limits the server-side calls to processors (BTCPay invoices) in flight.
    pub outbound: tokio::sync::Semaphore,
    pub http: reqwest::Client,
    /// Notifications waiting for the intake's next group commit.
    pub group: intake::Group,
}

impl std::ops::Deref for Payments {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Payments {
    pub fn new(config: &PaymentsConfig) -> Self {
        let sandbox_secret = if config.sandbox_secret.is_empty() {
            let bytes: [u8; 24] = rand::random();
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
        } else {
            config.sandbox_secret.clone()
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .connect_timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self(Arc::new(Inner {
            config: config.clone(),
            sandbox_secret,
            outbound: tokio::sync::Semaphore::new(8),
            http,
            group: intake::Group::default(),
        }))
    }

    /// The settings of `processor` for `cluster`: the cluster's own table, else `default`.
    /// The sandbox's come from `payments.sandbox`.
    pub fn settings(&self, cluster: &str, processor: &str) -> Option<ProcessorSettings> {
        if processor == "sandbox" {
            return self.config.sandbox.then(|| ProcessorSettings {
                enabled: true,
                secret: Some(self.sandbox_secret.clone()),
                descriptor: Some("FANZ*SANDBOX".into()),
                ..Default::default()
            });
        }
        let procs = &self.config.processors;
        procs
            .get(cluster)
            .and_then(|m| m.get(processor))
            .or_else(|| procs.get("default").and_then(|m| m.get(processor)))
            .cloned()
    }

    /// Every distinct settings table of `processor`, with the cluster it belongs to (`None`
    /// for `default`): a notification is verified against each until one accepts it.
    pub fn candidates(&self, processor: &str) -> Vec<(Option<String>, ProcessorSettings)> {
        if processor == "sandbox" {
            return self
                .settings("", "sandbox")
                .map(|s| vec![(None, s)])
                .unwrap_or_default();
        }
        self.config
            .processors
            .iter()
            .filter_map(|(cluster, m)| {
                m.get(processor).map(|s| {
                    let c = (cluster != "default").then(|| cluster.clone());
                    (c, s.clone())
                })
            })
            .collect()
    }

    /// The processors a fan on `cluster` can pay with, in display order.
    pub fn offered(&self, cluster: &str) -> Vec<Offered> {
        fanz_processors::all()
            .into_iter()
            .filter_map(|p| {
                let s = self.settings(cluster, p.name())?;
                (s.enabled && p.configured(&s)).then(|| Offered {
                    name: p.name(),
                    label: p.label(),
                    descriptor: s.descriptor.clone().unwrap_or_default(),
                })
            })
            .collect()
    }

    pub fn driver(&self, name: &str) -> Option<Box<dyn Processor>> {
        fanz_processors::by_name(name)
    }
}

/// A processor offered at checkout.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Offered {
    pub name: &'static str,
    pub label: &'static str,
    /// What the fan's statement will show.
    pub descriptor: String,
}

/// Why a payment operation was refused. Each variant has a stable code and HTTP status
/// (mapped in the web crate's error module).
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("not found")]
    NotFound,
    #[error("you may not do this")]
    Forbidden,
    #[error("{0}")]
    ProcessorUnavailable(String),
    #[error("the wallet holds {available} {currency}, less than {needed}")]
    InsufficientFunds {
        available: i64,
        needed: i64,
        currency: String,
    },
    /// A payout over what can be paid now; `awaiting` more waits for the processors'
    /// confirmation of the creator's sales.
    #[error("{}", payout_refusal(*available, *awaiting, *needed, currency))]
    PayoutOverAvailable {
        available: i64,
        awaiting: i64,
        needed: i64,
        currency: String,
    },
    #[error("payments from this account are on hold; contact support")]
    Flagged,
    #[error("{0}")]
    Conflict(&'static str),
    /// The processor's answer to a server-side call was not usable.
    #[error("the processor could not start the checkout: {0}")]
    Processor(String),
    /// An event that cannot be applied yet (its sale has not arrived): retried.
    #[error("not applicable yet: {0}")]
    NotYet(String),
    /// An event that will never apply as it is (amount differs from the checkout, …): a dead
    /// letter for finance.
    #[error("cannot be applied: {0}")]
    Unappliable(String),
    #[error(transparent)]
    Content(#[from] fanz_content::ContentError),
    #[error(transparent)]
    Ledger(#[from] fanz_ledger::LedgerError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Audit(#[from] fanz_audit::AuditError),
}

impl PaymentsError {
    pub fn code(&self) -> &'static str {
        use PaymentsError as E;
        match self {
            E::Invalid(v) => v.code,
            E::NotFound => "not_found",
            E::Forbidden => "forbidden",
            E::ProcessorUnavailable(_) => "processor_unavailable",
            E::InsufficientFunds { .. } => "insufficient_funds",
            E::PayoutOverAvailable { awaiting, .. } if *awaiting > 0 => "awaiting_confirmation",
            E::PayoutOverAvailable { .. } => "insufficient_funds",
            E::Flagged => "payments_on_hold",
            E::Conflict(_) => "conflict",
            E::Processor(_) => "processor_error",
            E::NotYet(_) => "not_applicable_yet",
            E::Unappliable(_) => "unappliable",
            E::Content(_) | E::Ledger(_) => "internal",
            E::Database(_) | E::Audit(_) => "internal",
        }
    }
}

fn payout_refusal(available: i64, awaiting: i64, needed: i64, currency: &str) -> String {
    let m = |a: i64| Money::new(a, currency).decimal();
    if awaiting > 0 {
        format!(
            "you can be paid {} {currency} now, less than {}: {} {currency} more awaits the processor's confirmation of your sales",
            m(available),
            m(needed),
            m(awaiting)
        )
    } else {
        format!(
            "you can be paid {} {currency} now, less than {}",
            m(available),
            m(needed)
        )
    }
}

pub type Result<T, E = PaymentsError> = std::result::Result<T, E>;

impl From<fanz_jobs::JobsError> for PaymentsError {
    fn from(e: fanz_jobs::JobsError) -> Self {
        match e {
            fanz_jobs::JobsError::Database(e) => PaymentsError::Database(e),
            other => PaymentsError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_store::StoreError> for PaymentsError {
    fn from(e: fanz_store::StoreError) -> Self {
        match e {
            fanz_store::StoreError::Database(e) => PaymentsError::Database(e),
            other => PaymentsError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

impl From<fanz_events::EventsError> for PaymentsError {
    fn from(e: fanz_events::EventsError) -> Self {
        match e {
            fanz_events::EventsError::Database(e) => PaymentsError::Database(e),
            other => PaymentsError::Database(sqlx::Error::Protocol(other.to_string())),
        }
    }
}

pub(crate) fn invalid(
    field: &'static str,
    code: &'static str,
    msg: impl Into<String>,
) -> PaymentsError {
    PaymentsError::Invalid(ValidationError::new(field, code, msg))
}

/// Whether `fan_id` is flagged (too many chargebacks) and may not buy.
pub async fn is_flagged(db: &mut fanz_store::Db, fan_id: i64) -> Result<bool> {
    let row = sqlx::query("SELECT 1 FROM payment_flags WHERE fan_id = $1 AND cleared_at IS NULL")
        .bind(fan_id)
        .fetch_optional(&mut *db)
        .await?;
    Ok(row.is_some())
}

//! argon2id password hashing, off the async runtime and under a limit.
//!
//! A hash costs about 19 MiB of memory and tens of milliseconds of a core, so an unbounded
//! burst of logins would take the memory of the machine. The [`Hasher`] runs at most
//! `concurrency` hashes at once (one per core by default); up to `queue` more wait for a slot,
//! each for at most `wait`; anything beyond gets [`IdentityError::Busy`] (503 with
//! `Retry-After`) at once. Memory for hashing is therefore bounded by `concurrency` × 19 MiB
//! whatever the burst.

use crate::{IdentityError, Result};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use fanz_core::Password;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a client is told to wait after a 503 from the hasher.
const BUSY_RETRY_AFTER_SECS: u64 = 2;

/// The bounded pool that every password hash and verification goes through.
#[derive(Debug)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    concurrency: usize,
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
    peak: AtomicUsize,
}

/// A hashing slot held outside the pool (see [`Hasher::hold_slot`]).
pub struct HeldSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Hasher {
    /// `concurrency` 0 means one slot per core.
    pub fn new(concurrency: usize, queue: usize, wait: Duration) -> Hasher {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            concurrency
        };
        Hasher {
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            waiting: AtomicUsize::new(0),
            queue,
            wait,
            peak: AtomicUsize::new(0),
        }
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How many hashes are waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// The most hashes that ever ran at once in this process.
    pub fn peak_running(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Take one slot away from the pool until the returned guard is dropped: for tests that
    /// need a busy hasher, and for an operator tool that wants hashing paused.
    pub async fn hold_slot(&self) -> HeldSlot {
        HeldSlot(
            self.slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        )
    }

    async fn slot(&self) -> Result<OwnedSemaphorePermit> {
        let busy = || IdentityError::Busy {
            retry_after_secs: BUSY_RETRY_AFTER_SECS,
        };
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let waited = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }

    /// Run `work` on the blocking pool while holding a slot. The slot goes with the work, so a
    /// request that gives up (client gone) still frees it only when the hash is done.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = self.slot().await?;
        let running = self.concurrency - self.slots.available_permits();
        self.peak.fetch_max(running, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| IdentityError::Internal(e.to_string()))
    }

    /// Hash a new password (PHC string).
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let pw = password.expose().to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(pw.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| IdentityError::Internal(e.to_string()))
        })
        .await?
    }

    /// True when `password` matches the stored PHC string. A malformed hash never matches.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool> {
        let pw = password.to_owned();
        let stored = stored.to_owned();
        self.run(move || {
            PasswordHash::new(&stored)
                .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new(0, 32, Duration::from_secs(5))
    }
}

/// A valid hash of a random password, verified against when the e-mail is unknown so that a
/// failed login costs the same time whether or not the account exists.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        let secret = fanz_core::token::random_token("", 24);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .expect("argon2 hashes")
            .to_string()
    })
}

//! Secrets at rest: small values that must be read back (TOTP secrets today, identity documents'
//! keys for trust & safety later) are sealed with XChaCha20-Poly1305 under a keyring before they
//! reach the store.
//!
//! One mechanism, with rotation. The keyring has one *current* key, which seals every new value,
//! and any number of *old* keys, which only open. A sealed value names the key that sealed it:
//! `fzsec1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`. To rotate, make a new key current,
//! list the previous one under the old keys, re-seal what is stored ([`Keyring::needs_reseal`]
//! tells which values), then drop the old key.
//!
//! Every value is bound to a *context* (associated data, e.g. `totp:42` for user 42's TOTP
//! secret): a ciphertext copied to another row or column does not open there.
//!
//! Keys come from configuration (`[secrets] key`, `old_keys`; `FANZ_SECRETS__KEY`) as
//! `id:base64` of 32 random bytes. Without one, a key is generated once into
//! `<data_dir>/secrets.key` (mode 0600), which suits one node; nodes that share a store must
//! share the key through configuration.
//!
//! This crate performs no I/O besides reading or creating that key file, and knows nothing of
//! what it seals.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::fmt;
use std::path::{Path, PathBuf};

/// The prefix of a sealed value; anything else stored in a sealed column is legacy clear text.
pub const SEALED_PREFIX: &str = "fzsec1:";
/// The file the generated default key is kept in, inside the data directory.
pub const KEY_FILE: &str = "secrets.key";

const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("invalid secrets key: {0}")]
    BadKey(String),
    #[error("the value was sealed with key {0:?}, which is not in the keyring")]
    UnknownKey(String),
    #[error("the sealed value is damaged, or belongs to another context")]
    Corrupt,
    #[error("cannot read or create the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = SecretsError> = std::result::Result<T, E>;

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    /// `id:base64` (standard or URL-safe alphabet, padded or not) of exactly 32 bytes.
    fn parse(spec: &str) -> Result<Key> {
        let spec = spec.trim();
        let Some((id, b64)) = spec.split_once(':') else {
            return Err(SecretsError::BadKey(
                "write a key as id:base64 (e.g. k2:…), 32 random bytes".into(),
            ));
        };
        if id.is_empty()
            || id.len() > 32
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SecretsError::BadKey(format!(
                "key id {id:?} must be 1 to 32 letters, digits, - or _"
            )));
        }
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|e| e.decode(b64.trim()).ok())
            .ok_or_else(|| SecretsError::BadKey(format!("key {id:?} is not base64")))?;
        if bytes.len() != KEY_BYTES {
            return Err(SecretsError::BadKey(format!(
                "key {id:?} has {} bytes; it must have {KEY_BYTES}",
                bytes.len()
            )));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| SecretsError::BadKey(format!("key {id:?} has the wrong length")))?;
        Ok(Key {
            id: id.to_owned(),
            cipher,
        })
    }
}

/// The keys that seal and open secrets at rest. Cheap to share behind an `Arc`.
pub struct Keyring {
    current: Key,
    old: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("old", &self.old.iter().map(|k| &k.id).collect::<Vec<_>>())
            .finish()
    }
}

/// A new random key as `id:base64`, for a key file or the configuration.
pub fn generate_key_spec(id: &str) -> String {
    let mut bytes = [0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{id}:{}", STANDARD.encode(bytes))
}

impl Keyring {
    /// A keyring from `current` and `old` key specs (`id:base64`). Ids must be distinct.
    pub fn new(current: &str, old: &[String]) -> Result<Keyring> {
        let current = Key::parse(current)?;
        let mut keys: Vec<Key> = Vec::with_capacity(old.len());
        for spec in old.iter().filter(|s| !s.trim().is_empty()) {
            let key = Key::parse(spec)?;
            if key.id == current.id || keys.iter().any(|k| k.id == key.id) {
                return Err(SecretsError::BadKey(format!(
                    "key id {:?} is used twice",
                    key.id
                )));
            }
            keys.push(key);
        }
        Ok(Keyring { current, old: keys })
    }

    /// The configured keyring; with no current key configured, the key in
    /// `<data_dir>/secrets.key`, generated on first use.
    pub fn load(current: &str, old: &[String], data_dir: &Path) -> Result<Keyring> {
        if !current.trim().is_empty() {
            return Keyring::new(current, old);
        }
        let spec = key_file(data_dir)?;
        Keyring::new(&spec, old)
    }

    /// A keyring with a fresh random key that lives as long as the process: for tests and tools
    /// that store nothing.
    pub fn ephemeral() -> Keyring {
        Keyring::new(&generate_key_spec("ephemeral"), &[]).expect("a generated key parses")
    }

    /// The id of the key that seals new values.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Seal `plaintext` under the current key, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any message that fits in memory");
        let mut out = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        format!(
            "{SEALED_PREFIX}{}:{}",
            self.current.id,
            URL_SAFE_NO_PAD.encode(out)
        )
    }

    /// Open a value sealed by [`Keyring::seal`] with the same `context`, under whichever key of
    /// the ring sealed it.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>> {
        let (id, body) = split_sealed(sealed).ok_or(SecretsError::Corrupt)?;
        let key = std::iter::once(&self.current)
            .chain(self.old.iter())
            .find(|k| k.id == id)
            .ok_or_else(|| SecretsError::UnknownKey(id.to_owned()))?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SecretsError::Corrupt)?;
        if raw.len() < NONCE_BYTES {
            return Err(SecretsError::Corrupt);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SecretsError::Corrupt)?;
        key.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Corrupt)
    }

    /// Open a stored text value: sealed values are opened; anything without the sealed prefix is
    /// legacy clear text from before sealing and is returned as it is.
    pub fn open_text(&self, stored: &str, context: &str) -> Result<String> {
        if !is_sealed(stored) {
            return Ok(stored.to_owned());
        }
        String::from_utf8(self.open(stored, context)?).map_err(|_| SecretsError::Corrupt)
    }

    /// Seal a text value.
    pub fn seal_text(&self, plaintext: &str, context: &str) -> String {
        self.seal(plaintext.as_bytes(), context)
    }

    /// True when a stored value should be sealed again: it is clear text, or sealed under a key
    /// that is no longer current.
    pub fn needs_reseal(&self, stored: &str) -> bool {
        match split_sealed(stored) {
            Some((id, _)) => id != self.current.id,
            None => true,
        }
    }
}

/// True when `stored` is a sealed value (whatever key sealed it).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

fn split_sealed(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(SEALED_PREFIX)?.split_once(':')
}

/// Read the key file in `data_dir`, creating it (mode 0600) with a new key when it is missing.
/// Two processes starting at once agree on one key: the file is created exclusively and the
/// loser reads the winner's.
fn key_file(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(KEY_FILE);
    let io = |source| SecretsError::KeyFile {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        Ok(_) => {
            return Err(SecretsError::BadKey(format!(
                "{} is empty; delete it only if nothing was sealed with it",
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let spec = generate_key_spec("k1");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(format!("{spec}\n").as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(io)?;
            Ok(spec)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let s = std::fs::read_to_string(&path).map_err(io)?;
            Ok(s.trim().to_owned())
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_in_context() {
        let ring = Keyring::ephemeral();
        let sealed = ring.seal_text("JBSWY3DPEHPK3PXP", "totp:1");
        assert!(sealed.starts_with("fzsec1:ephemeral:"));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            ring.open_text(&sealed, "totp:1").unwrap(),
            "JBSWY3DPEHPK3PXP"
        );
        // Another row's context does not open it, nor does a changed byte.
        assert!(matches!(
            ring.open(&sealed, "totp:2"),
            Err(SecretsError::Corrupt)
        ));
        let mut damaged = sealed.clone();
        let last = damaged.pop().unwrap();
        damaged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(ring.open(&damaged, "totp:1").is_err());
        // Two seals of one value differ (random nonces).
        assert_ne!(sealed, ring.seal_text("JBSWY3DPEHPK3PXP", "totp:1"));
    }

    #[test]
    fn legacy_clear_text_is_read_and_flagged() {
        let ring = Keyring::ephemeral();
        assert_eq!(ring.open_text("JBSWY3DP", "totp:1").unwrap(), "JBSWY3DP");
        assert!(ring.needs_reseal("JBSWY3DP"));
        assert!(!ring.needs_reseal(&ring.seal_text("x", "c")));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let k1 = generate_key_spec("k1");
        let k2 = generate_key_spec("k2");
        let before = Keyring::new(&k1, &[]).unwrap();
        let sealed = before.seal_text("secret", "ctx");
        let after = Keyring::new(&k2, std::slice::from_ref(&k1)).unwrap();
        assert_eq!(after.open_text(&sealed, "ctx").unwrap(), "secret");
        assert!(after.needs_reseal(&sealed));
        let resealed = after.seal_text("secret", "ctx");
        assert!(resealed.starts_with("fzsec1:k2:"));
        // Once k1 is dropped, what it sealed is unreadable, and says why.
        let dropped = Keyring::new(&k2, &[]).unwrap();
        assert!(matches!(
            dropped.open(&sealed, "ctx"),
            Err(SecretsError::UnknownKey(id)) if id == "k1"
        ));
        assert_eq!(dropped.open_text(&resealed, "ctx").unwrap(), "secret");
    }

    #[test]
    fn bad_keys_are_refused() {
        for spec in ["", "nocolon", "k1:not base64!", "k1:AAAA", "bad id:AAAA"] {
            assert!(Keyring::new(spec, &[]).is_err(), "{spec:?}");
        }
        let k = generate_key_spec("k1");
        assert!(
            Keyring::new(&k, std::slice::from_ref(&k)).is_err(),
            "duplicate id"
        );
        // URL-safe, unpadded keys are accepted too.
        let url = format!("k3:{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(Keyring::new(&url, &[]).is_ok());
    }

    #[test]
    fn default_key_is_generated_once_into_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keyring::load("", &[], dir.path()).unwrap();
        let sealed = a.seal_text("v", "c");
        let b = Keyring::load("", &[], dir.path()).unwrap();
        assert_eq!(b.open_text(&sealed, "c").unwrap(), "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A configured key wins over the file.
        let configured = Keyring::load(&generate_key_spec("cfg"), &[], dir.path()).unwrap();
        assert_eq!(configured.current_id(), "cfg");
    }
}

//! Opaque secrets (session tokens, API keys, reset tokens, recovery codes).
//! Only their SHA-256 digest is ever stored; the clear value is shown once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A random secret of `bytes` bytes, URL-safe base64 without padding, with a readable prefix.
pub fn random_token(prefix: &str, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(buf))
}

/// The stored form of a secret: lower-case hex SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison for secrets held in memory (CSRF tokens).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A human-friendly one-time code such as a recovery code: `xxxx-xxxx-xxxx`, lower-case
/// letters and digits without look-alikes.
pub fn human_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    let mut out = String::with_capacity(14);
    for group in 0..3 {
        if group > 0 {
            out.push('-');
        }
        for _ in 0..4 {
            let i = (rng.next_u32() as usize) % ALPHABET.len();
            out.push(ALPHABET[i] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_prefixed() {
        let a = random_token("fz_", 32);
        let b = random_token("fz_", 32);
        assert!(a.starts_with("fz_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 43);
    }

    #[test]
    fn hash_is_stable_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn compares_secrets() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }

    #[test]
    fn human_codes_have_shape() {
        let c = human_code();
        assert_eq!(c.len(), 14);
        assert_eq!(c.matches('-').count(), 2);
    }
}

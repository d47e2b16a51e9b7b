//! Tokens for sensors and API users: 256 random bits from the operating system, shown once
//! (`ort_` and 43 base64url characters), kept only as their SHA-256. A token is looked up by
//! its hash, so the comparison is an index lookup of a value an attacker cannot choose to
//! collide with. Web UI passwords are kept as Argon2id hashes (PHC strings, salted).

use base64::Engine as _;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

use crate::StoreError;

const PREFIX: &str = "ort_";

/// A new token and the hash the store keeps.
pub fn new_token() -> Result<(String, [u8; 32]), StoreError> {
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| StoreError::Invalid("the operating system gave no random bytes".into()))?;
    let token = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The hash a presented token is looked up by.
pub fn token_hash(token: &str) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, token.trim().as_bytes());
    // SHA-256 is 32 bytes: the fallback is never taken.
    digest.as_ref().try_into().unwrap_or([0u8; 32])
}

/// Shortest password accepted for the web UI.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The Argon2id PHC string kept for `password` (a fresh random salt each time).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    use argon2::password_hash::PasswordHasher as _;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid(format!("a password has at least {MIN_PASSWORD_CHARS} characters")));
    }
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| StoreError::Invalid(format!("hashing the password: {e}")))
}

/// Whether `password` matches the kept hash (false for a hash that does not parse).
pub fn verify_password(password: &str, kept: &str) -> bool {
    use argon2::password_hash::PasswordVerifier as _;
    argon2::password_hash::phc::PasswordHash::new(kept)
        .is_ok_and(|hash| argon2::Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_new_each_time_and_hash_alike_when_presented() {
        let (a, hash_a) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("ort_") && a.len() == 47, "{a}");
        assert_eq!(token_hash(&format!(" {a}\n")), hash_a);
        assert_ne!(token_hash(&b), hash_a);
    }

    #[test]
    fn passwords_verify_only_themselves_and_short_ones_are_refused() {
        let kept = hash_password("correct horse battery").unwrap();
        assert!(kept.starts_with("$argon2id$"), "{kept}");
        assert_ne!(hash_password("correct horse battery").unwrap(), kept, "salted");
        assert!(verify_password("correct horse battery", &kept));
        assert!(!verify_password("correct horse battery!", &kept));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert!(matches!(hash_password("short"), Err(StoreError::Invalid(_))));
    }
}

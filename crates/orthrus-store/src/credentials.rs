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

/// A new session epoch for a user: random, so an epoch never comes back (not for a user
/// removed and made again under the same name either).
pub fn new_epoch() -> Result<i64, StoreError> {
    let mut bytes = [0u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| StoreError::Invalid("the operating system gave no random bytes".into()))?;
    Ok(i64::from_le_bytes(bytes))
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
    verify_password_in(password, kept, &mut Vec::new())
}

/// Largest Argon2 memory a kept hash may ask for: 256 MiB, over ten times the default (19 MiB).
/// A hash asking for more is refused, not computed.
const MAX_ARGON2_BLOCKS: usize = 256 * 1024;

/// [`verify_password`] in `memory`, which a thread keeps from one verification to the next:
/// allocating Argon2's 19 MiB for each login and freeing it fragments the allocator's arena
/// until a flood of logins has grown the process by hundreds of MiB.
pub fn verify_password_in(password: &str, kept: &str, memory: &mut Vec<argon2::Block>) -> bool {
    use argon2::password_hash::phc::{Output, PasswordHash};
    let Ok(hash) = PasswordHash::new(kept) else { return false };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else { return false };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm.as_str()) else { return false };
    let version = match hash.version.map(argon2::Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&hash) else { return false };
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut computed = vec![0u8; expected.len()];
    let hasher = argon2::Argon2::new(algorithm, version, params);
    let Some(blocks) = memory.get_mut(..blocks) else { return false };
    if hasher.hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, blocks).is_err() {
        return false;
    }
    // Output's comparison is constant-time.
    Output::new(&computed).is_ok_and(|computed| computed == *expected)
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

    #[test]
    fn verifying_in_kept_memory_agrees_with_argon2s_own_verifier() {
        use argon2::password_hash::phc::PasswordHash;
        use argon2::password_hash::{CustomizedPasswordHasher as _, PasswordVerifier as _};
        let own = |password: &str, kept: &str| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &PasswordHash::new(kept).unwrap())
                .is_ok()
        };
        // The default hash, and other algorithms, versions and costs as older hashes may have.
        let mut kept = vec![hash_password("correct horse battery").unwrap()];
        for (algorithm, version, memory, passes) in [("argon2i", 0x10, 1024, 3), ("argon2d", 0x13, 4096, 1)] {
            let params = argon2::Params::new(memory, passes, 1, None).unwrap();
            let hash = argon2::Argon2::default()
                .hash_password_customized(
                    b"correct horse battery",
                    b"saltsaltsalt",
                    Some(algorithm),
                    Some(version),
                    params,
                )
                .unwrap();
            kept.push(hash.to_string());
        }
        let mut memory = Vec::new();
        for kept in &kept {
            for password in ["correct horse battery", "correct horse battery!", ""] {
                assert_eq!(
                    verify_password_in(password, kept, &mut memory),
                    own(password, kept),
                    "{kept} {password:?}"
                );
            }
        }
        assert!(memory.len() >= 19 * 1024, "the memory is kept for the next verification");
        // A hash asking for more memory than any real one is refused without computing it.
        let greedy =
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify_password_in("x", greedy, &mut memory));
        assert!(memory.len() < 4_194_304);
    }
}

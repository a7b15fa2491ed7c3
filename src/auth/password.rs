//! Passwords: Argon2id hashes (PHC strings), computed off the async runtime.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::error::ApiError;

/// The hash checked when an email is unknown, so a wrong email costs the same time as a wrong
/// password and answers cannot tell accounts apart.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"no account has this password, it only spends time")
        .expect("hashing a constant")
        .to_string()
});

/// Hashes `password` with Argon2id (the crate's defaults: 19 MiB, 2 passes) and a random salt.
pub(crate) async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether `password` matches `hash`; with no hash (unknown account) checks a dummy one, spending
/// the same time, and answers `false`.
pub(crate) async fn verify(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        known && matches
    })
    .await
    .map_err(ApiError::internal)
}

/// Warms the dummy hash so the first unknown-email sign-in is not faster than the rest.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

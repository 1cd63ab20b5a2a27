//! Argon2id password hashing, run on the blocking pool so a burst of logins cannot
//! stall the request workers.
use crate::error::{Error, Result};
use anyhow::anyhow;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Hashes with Argon2id (the crate's default parameters: 19 MiB, 2 passes).
pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(anyhow!("hashing password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

/// Verifies in constant time with respect to the password.
pub async fn verify(password: String, stored: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&stored).map_err(|e| Error::Internal(anyhow!("stored hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verifiable() {
        let a = super::hash("correct horse battery".into()).await.unwrap();
        let b = super::hash("correct horse battery".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(super::verify("correct horse battery".into(), a.clone())
            .await
            .unwrap());
        assert!(!super::verify("wrong horse battery".into(), a)
            .await
            .unwrap());
    }
}

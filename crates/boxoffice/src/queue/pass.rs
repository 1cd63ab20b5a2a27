//! The queue pass: a JWT (JWS compact, `alg: EdDSA`, `kid` in the header) signed
//! with the `queue-pass` key, so an edge can check it with the published JWKS alone.
//!
//! Claims: `iss` (`boxoffice`), `sub` (the account), `show`, `jti` (the pass id),
//! `iat` and `exp` (seconds). Signing is deterministic (Ed25519), so a pass rebuilt
//! from the log after a restart is the very same token.
use crate::signing::{Keyring, Purpose, VerifyError};
use boxoffice_domain::{ShowId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const ISSUER: &str = "boxoffice";
/// The request header that carries a pass to `POST /bookings/reserve`.
pub const HEADER: &str = "X-Queue-Pass";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassClaims {
    pub iss: String,
    pub sub: UserId,
    pub show: ShowId,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
}

/// Signs the pass `jti` of `user` for `show`.
pub fn issue(
    keys: &Keyring,
    show: ShowId,
    user: UserId,
    jti: Uuid,
    issued: Timestamp,
    expires: Timestamp,
) -> String {
    let claims = PassClaims {
        iss: ISSUER.into(),
        sub: user,
        show,
        jti,
        iat: issued.millis() / 1000,
        exp: expires.millis().div_euclid(1000),
    };
    let payload = serde_json::to_vec(&claims).expect("claims serialize");
    keys.sign_jws(Purpose::QUEUE_PASS, "JWT", &payload)
}

/// Why a presented pass is refused; each names what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("is required while this show's sale goes through its waiting room")]
    Missing,
    #[error("is malformed")]
    Malformed,
    #[error("is not signed by a current queue-pass key")]
    Forged,
    #[error("was issued for another show")]
    OtherShow,
    #[error("was issued to another account")]
    OtherAccount,
    #[error("expired at {0}")]
    Expired(String),
    #[error("was revoked")]
    Revoked,
    #[error("was already used")]
    Used,
    #[error("is unknown to this waiting room")]
    Unknown,
}

/// Checks the signature and the claims against who presents it, where, and when.
pub fn verify(
    keys: &Keyring,
    token: &str,
    show: ShowId,
    user: UserId,
    now: Timestamp,
) -> Result<PassClaims, PassError> {
    let (header, payload) =
        keys.verify_jws(Purpose::QUEUE_PASS, token.trim())
            .map_err(|e| match e {
                VerifyError::Malformed => PassError::Malformed,
                VerifyError::UnknownKey | VerifyError::BadSignature => PassError::Forged,
            })?;
    if header.typ != "JWT" {
        return Err(PassError::Malformed);
    }
    let claims: PassClaims = serde_json::from_slice(&payload).map_err(|_| PassError::Malformed)?;
    if claims.iss != ISSUER {
        return Err(PassError::Malformed);
    }
    if claims.show != show {
        return Err(PassError::OtherShow);
    }
    if claims.sub != user {
        return Err(PassError::OtherAccount);
    }
    if now.millis() >= claims.exp.saturating_mul(1000) {
        return Err(PassError::Expired(crate::timefmt::rfc3339(
            Timestamp::from_millis(claims.exp.saturating_mul(1000)),
        )));
    }
    Ok(claims)
}

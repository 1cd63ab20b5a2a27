//! Access and refresh tokens. Access tokens are HS256 JWTs checked against the
//! service clock; refresh tokens are 256-bit random strings of which only a SHA-256
//! digest is stored.
use crate::error::{Error, Result};
use base64::Engine;
use boxoffice_domain::account::Role;
use boxoffice_domain::organization::KeyScope;
use boxoffice_domain::{ApiKeyId, OrganizationId, Timestamp, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const ACCESS_TTL_SECS: i64 = 15 * 60;
pub const REFRESH_TTL_SECS: i64 = 7 * 24 * 3600;
const ISSUER: &str = "boxoffice";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    iss: String,
    iat: i64,
    exp: i64,
}

/// Who is calling, as proven by a valid access token or API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The account; for an API key, the account that created it.
    pub user: UserId,
    pub role: Role,
    /// Set when the caller presented an API key: it acts for that organization only,
    /// within its scope, never as its creator.
    pub key: Option<KeyGrant>,
}

/// What an API key grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: ApiKeyId,
    pub organization: OrganizationId,
    pub scope: KeyScope,
}

impl Principal {
    /// An account signed in with an access token.
    pub fn user(user: UserId, role: Role) -> Self {
        Self {
            user,
            role,
            key: None,
        }
    }

    /// Whose requests these are, for scoping stored state such as idempotency keys:
    /// an API key is not its creator.
    pub fn scope(&self) -> String {
        match self.key {
            Some(k) => format!("key:{}", k.id),
            None => self.user.to_string(),
        }
    }

    /// Admin powers come with an account's token only, never through an API key.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin && self.key.is_none()
    }

    /// Whether the caller may act on something `owner` owns: the owner or an admin.
    pub fn acts_for(&self, owner: UserId) -> bool {
        self.is_admin() || (self.key.is_none() && self.user == owner)
    }
}

pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenIssuer {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the service clock below, not the system clock.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A signed access token and its lifetime in seconds.
    pub fn issue(&self, user: UserId, role: Role, now: Timestamp) -> Result<(String, i64)> {
        let iat = now.millis() / 1000;
        let claims = Claims {
            sub: user.to_string(),
            role: role.as_str().into(),
            iss: ISSUER.into(),
            iat,
            exp: iat + ACCESS_TTL_SECS,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Internal(e.into()))?;
        Ok((token, ACCESS_TTL_SECS))
    }

    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Principal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::Unauthorized("the access token is invalid"))?;
        let c = data.claims;
        if c.exp <= now.millis() / 1000 {
            return Err(Error::Unauthorized("the access token has expired"));
        }
        let user = c
            .sub
            .parse()
            .map_err(|_| Error::Unauthorized("the access token is invalid"))?;
        let role =
            Role::parse(&c.role).map_err(|_| Error::Unauthorized("the access token is invalid"))?;
        Ok(Principal::user(user, role))
    }
}

/// A fresh refresh token and the digest to store.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&token);
    (token, digest)
}

/// SHA-256 hex digest, used for refresh tokens and request fingerprints.
pub fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A random secret for signing access tokens, base64url.
pub fn new_signing_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire() {
        let issuer = TokenIssuer::new(b"test-secret-test-secret-test-secret");
        let user = UserId::new();
        let now = Timestamp::from_millis(1_700_000_000_000);
        let (token, ttl) = issuer.issue(user, Role::Organizer, now).unwrap();
        assert_eq!(ttl, ACCESS_TTL_SECS);
        assert_eq!(
            issuer.verify(&token, now).unwrap(),
            Principal::user(user, Role::Organizer)
        );
        assert!(issuer
            .verify(&token, now.plus_secs(ACCESS_TTL_SECS))
            .is_err());
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let ours = TokenIssuer::new(b"ours-ours-ours-ours-ours-ours-ours");
        let theirs = TokenIssuer::new(b"theirs-theirs-theirs-theirs-theirs");
        let now = Timestamp::now();
        let (token, _) = theirs.issue(UserId::new(), Role::Admin, now).unwrap();
        assert!(ours.verify(&token, now).is_err());
        assert!(ours.verify("not.a.jwt", now).is_err());
        let (mine, _) = ours.issue(UserId::new(), Role::Buyer, now).unwrap();
        let tampered = format!("{}x", mine);
        assert!(ours.verify(&tampered, now).is_err());
    }

    #[test]
    fn owners_and_admins_act_for_an_owner() {
        let owner = UserId::new();
        let buyer = |user| Principal::user(user, Role::Buyer);
        assert!(buyer(owner).acts_for(owner));
        assert!(!buyer(UserId::new()).acts_for(owner));
        assert!(Principal::user(UserId::new(), Role::Admin).acts_for(owner));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_digests() {
        let (a, da) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(digest(&a), da);
        assert_eq!(da.len(), 64);
    }
}

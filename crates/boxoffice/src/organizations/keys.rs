//! API key tokens: `bo_<key id>_<secret>`. The id finds the record in one indexed
//! lookup; only a SHA-256 digest of the 256-bit secret is stored, compared in
//! constant time.
use crate::accounts::tokens::digest;
use base64::Engine;
use boxoffice_domain::ApiKeyId;
use rand::RngCore;
use subtle::ConstantTimeEq;

const PREFIX: &str = "bo_";

/// Whether a bearer credential is shaped like an API key (not a JWT).
pub fn is_api_key(bearer: &str) -> bool {
    bearer.starts_with(PREFIX)
}

/// A new key: the token shown once, and the digest to store.
pub fn new_token(id: ApiKeyId) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let token = format!("{PREFIX}{}_{secret}", id.as_uuid().simple());
    (token, digest(&secret))
}

/// The key id and secret of a token, if it is shaped like one.
pub fn parse(token: &str) -> Option<(ApiKeyId, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id = uuid::Uuid::try_parse(id).ok()?;
    (!secret.is_empty()).then_some((ApiKeyId::from_uuid(id), secret))
}

/// Whether `secret` is the one whose digest is `stored`, in constant time.
pub fn matches(secret: &str, stored: &str) -> bool {
    digest(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_back_to_their_id_and_match_only_their_digest() {
        let id = ApiKeyId::new();
        let (token, stored) = new_token(id);
        assert!(is_api_key(&token));
        let (parsed, secret) = parse(&token).unwrap();
        assert_eq!(parsed, id);
        assert!(matches(secret, &stored));
        let (other, _) = new_token(id);
        assert!(!matches(parse(&other).unwrap().1, &stored));
        for bad in [
            "bo_",
            "bo_zz_secret",
            "bo_0190d0f47f0c7aa68f2e5c2d3b1a9e77_",
            "eyJ.x.y",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}

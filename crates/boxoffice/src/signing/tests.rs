use super::*;
use crate::clock::{Clock, ManualClock};
use crate::store::{Durability, SqlStore};
use secrecy::SecretString;

struct Fixture {
    _dir: tempfile::TempDir,
    store: DynStore,
    vault: Arc<Vault>,
    clock: Arc<ManualClock>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/k.db", dir.path().display());
    let sql = SqlStore::connect(&url, 1, Durability::Normal)
        .await
        .unwrap();
    sql.migrate().await.unwrap();
    let store: DynStore = Arc::new(sql);
    let vault = Arc::new(Vault::load(None, store.clone()).await.unwrap());
    Fixture {
        _dir: dir,
        store,
        vault,
        clock: Arc::new(ManualClock::default()),
    }
}

impl Fixture {
    async fn keyring(&self, config: &SigningConfig) -> Keyring {
        Keyring::load(
            config,
            self.store.clone(),
            self.vault.clone(),
            self.clock.clone(),
        )
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn store_keys_are_made_once_sealed_and_kept() {
    let f = fixture().await;
    let a = f.keyring(&SigningConfig::default()).await;
    assert_eq!(a.active_kid(Purpose::QUEUE_PASS), "queue-pass-v1");
    assert_eq!(a.active_kid(Purpose::TICKET), "ticket-v1");
    let token = a.sign_jws(Purpose::QUEUE_PASS, "JWT", b"{\"a\":1}");
    let b = f.keyring(&SigningConfig::default()).await;
    let (header, payload) = b.verify_jws(Purpose::QUEUE_PASS, &token).unwrap();
    assert_eq!(
        (header.kid.as_str(), payload.as_slice()),
        ("queue-pass-v1", &b"{\"a\":1}"[..])
    );
    assert_eq!(
        a.jwks().keys,
        b.jwks().keys,
        "the same keys after a restart"
    );
    let stored = f
        .store
        .setting("signing_key.queue-pass.v1")
        .await
        .unwrap()
        .unwrap();
    let jwk = &a.jwks().keys[0];
    assert!(
        !stored.contains(&jwk.x),
        "the seed is sealed, not stored in clear"
    );
    assert!(!format!("{a:?}").contains(&jwk.x));
}

#[tokio::test]
async fn tampered_cross_purpose_and_forged_tokens_fail() {
    let f = fixture().await;
    let ring = f.keyring(&SigningConfig::default()).await;
    let token = ring.sign_jws(Purpose::QUEUE_PASS, "JWT", b"{\"show\":\"x\"}");
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let altered = format!("{head}.{}.{sig}", b64url(b"{\"show\":\"y\"}"));
    assert_eq!(
        ring.verify_jws(Purpose::QUEUE_PASS, &altered),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        ring.verify_jws(Purpose::TICKET, &token),
        Err(VerifyError::UnknownKey),
        "a queue-pass key is not a ticket key"
    );
    let forged = jws::sign(
        &SigningKey::from_bytes(&[7; 32]),
        "queue-pass-v1",
        "JWT",
        b"{}",
    );
    assert_eq!(
        ring.verify_jws(Purpose::QUEUE_PASS, &forged),
        Err(VerifyError::BadSignature)
    );
    for bad in ["", "a.b", "a.b.c", "..", &"x".repeat(5000)] {
        assert_eq!(
            ring.verify_jws(Purpose::QUEUE_PASS, bad),
            Err(VerifyError::Malformed),
            "{bad:.20}"
        );
    }
}

#[tokio::test]
async fn rotation_overlaps_then_retires_the_old_key() {
    let f = fixture().await;
    let config = SigningConfig {
        overlap_secs: 600,
        ..SigningConfig::default()
    };
    let ring = f.keyring(&config).await;
    let old = ring.sign_jws(Purpose::QUEUE_PASS, "JWT", b"{}");
    assert_eq!(
        ring.rotate(Purpose::QUEUE_PASS).await.unwrap(),
        "queue-pass-v2"
    );
    let new = ring.sign_jws(Purpose::QUEUE_PASS, "JWT", b"{}");
    assert!(new.starts_with(&b64url(
        br#"{"alg":"EdDSA","kid":"queue-pass-v2","typ":"JWT"}"#
    )));
    assert!(
        ring.verify_jws(Purpose::QUEUE_PASS, &old).is_ok(),
        "overlap"
    );
    let kids: Vec<String> = ring.jwks().keys.iter().map(|k| k.kid.clone()).collect();
    assert_eq!(kids, ["queue-pass-v1", "queue-pass-v2", "ticket-v1"]);
    f.clock.advance_secs(601);
    assert_eq!(
        ring.verify_jws(Purpose::QUEUE_PASS, &old),
        Err(VerifyError::UnknownKey)
    );
    assert!(ring.verify_jws(Purpose::QUEUE_PASS, &new).is_ok());
    let kids: Vec<String> = ring.jwks().keys.iter().map(|k| k.kid.clone()).collect();
    assert_eq!(kids, ["queue-pass-v2", "ticket-v1"]);
    // Another node's keyring learns of the rotation from the store.
    let other = f.keyring(&config).await;
    assert_eq!(other.active_kid(Purpose::QUEUE_PASS), "queue-pass-v2");
    assert_eq!(ring.active_kid(Purpose::TICKET), "ticket-v1");
}

#[tokio::test]
async fn configured_keys_sign_and_are_checked() {
    let f = fixture().await;
    let (k1, k2) = (new_seed(), new_seed());
    let keys = |active: &str, pairs: &[(&str, &str)]| KeyConfig {
        active: active.into(),
        keys: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(v.to_string())))
            .collect(),
    };
    let mut config = SigningConfig::default();
    config
        .keys
        .insert("ticket".into(), keys("t2", &[("t1", &k1), ("t2", &k2)]));
    let ring = f.keyring(&config).await;
    assert_eq!(ring.active_kid(Purpose::TICKET), "t2");
    assert!(
        ring.rotate(Purpose::TICKET).await.is_err(),
        "configured keys rotate by configuration"
    );
    let mut bad = SigningConfig::default();
    bad.keys.insert("ticket".into(), keys("t9", &[("t1", &k1)]));
    assert!(
        Keyring::load(&bad, f.store.clone(), f.vault.clone(), f.clock.clone())
            .await
            .is_err()
    );
    let mut unknown = SigningConfig::default();
    unknown
        .keys
        .insert("nope".into(), keys("t1", &[("t1", &k1)]));
    assert!(
        Keyring::load(&unknown, f.store.clone(), f.vault.clone(), f.clock.clone())
            .await
            .is_err()
    );
}

/// An edge verifies with the published JWKS and a JOSE library, not with our code.
#[tokio::test]
async fn an_independent_jose_library_verifies_with_the_published_key() {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
    let f = fixture().await;
    let ring = f.keyring(&SigningConfig::default()).await;
    let exp = f.clock.now().millis() / 1000 + 300;
    let claims = serde_json::json!({"sub": "u1", "exp": exp});
    let token = ring.sign_jws(Purpose::QUEUE_PASS, "JWT", claims.to_string().as_bytes());
    let jwks = serde_json::to_value(ring.jwks()).unwrap();
    let kid = decode_header(&token).unwrap().kid.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap();
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
    let data =
        decode::<serde_json::Value>(&token, &key, &Validation::new(Algorithm::EdDSA)).unwrap();
    assert_eq!(data.claims["sub"], "u1");
    let other = DecodingKey::from_ed_components(&b64url(
        SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes(),
    ))
    .unwrap();
    assert!(
        decode::<serde_json::Value>(&token, &other, &Validation::new(Algorithm::EdDSA)).is_err()
    );
}

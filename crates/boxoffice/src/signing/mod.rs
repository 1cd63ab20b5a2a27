//! Ed25519 signing keys by purpose (queue passes, e-tickets …): what we sign can be
//! checked by a party without our database — an edge worker, an offline gate scanner —
//! using the public keys we publish as a JWKS document.
//!
//! Each purpose has its own ring of keys, each with a `kid`. Keys come from
//! configuration (`signing.keys.<purpose>`, base64 of the 32-byte seed) or, when none
//! is configured for a purpose, are generated on first start and kept in the store's
//! settings (`signing_key.<purpose>.v1`, `v2` …), sealed by the [`Vault`]. The
//! highest version signs; an older one keeps verifying (and stays published) for
//! `signing.overlap_secs` after its successor was made, so tokens signed before a
//! rotation stay valid until they expire.
pub mod http;
mod jws;

pub use jws::{b64url, b64url_decode, JwsHeader};

use crate::clock::DynClock;
use crate::store::DynStore;
use crate::vault::{KeyConfig, Vault};
use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use parking_lot::RwLock;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

const SETTING_PREFIX: &str = "signing_key.";

/// What a key signs. Keys never cross purposes: a ticket key cannot make a queue pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Purpose(&'static str);

impl Purpose {
    /// Waiting-room passes (`X-Queue-Pass`).
    pub const QUEUE_PASS: Purpose = Purpose("queue-pass");
    /// E-ticket QR payloads.
    pub const TICKET: Purpose = Purpose("ticket");
    /// Every purpose the platform signs for.
    pub const ALL: [Purpose; 2] = [Purpose::QUEUE_PASS, Purpose::TICKET];

    pub const fn name(self) -> &'static str {
        self.0
    }

    pub fn parse(name: &str) -> Option<Purpose> {
        Self::ALL.into_iter().find(|p| p.0 == name)
    }
}

/// The `signing` configuration section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningConfig {
    /// How long a key that was replaced still verifies and stays published.
    pub overlap_secs: u64,
    /// Configured keys per purpose (`active` and `keys = { kid = "<base64 seed>" }`);
    /// a purpose without an entry uses store-kept keys.
    #[serde(skip_serializing)]
    pub keys: BTreeMap<String, KeyConfig>,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            overlap_secs: 7 * 24 * 3600,
            keys: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names an unknown or retired key")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
}

struct Key {
    kid: String,
    signing: SigningKey,
    /// When a successor replaced it; it verifies until then plus the overlap.
    retired_at: Option<i64>,
}

struct Ring {
    /// Oldest first; the last one signs.
    keys: Vec<Key>,
    from_store: bool,
}

impl Ring {
    fn active(&self) -> &Key {
        self.keys.last().expect("a ring has at least one key")
    }
}

/// The keys of every purpose.
pub struct Keyring {
    rings: RwLock<BTreeMap<Purpose, Ring>>,
    store: DynStore,
    vault: Arc<Vault>,
    clock: DynClock,
    overlap_ms: i64,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rings = self.rings.read();
        let kids: BTreeMap<_, Vec<_>> = rings
            .iter()
            .map(|(p, r)| (p.name(), r.keys.iter().map(|k| k.kid.clone()).collect()))
            .collect();
        f.debug_struct("Keyring").field("kids", &kids).finish()
    }
}

/// One public key in JWKS form (RFC 8037: `kty: OKP`, `crv: Ed25519`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    #[schema(example = "OKP")]
    pub kty: String,
    #[schema(example = "Ed25519")]
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    #[schema(example = "queue-pass-v1")]
    pub kid: String,
    #[schema(example = "EdDSA")]
    pub alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
    /// What the key signs: `queue-pass` or `ticket`.
    #[schema(example = "queue-pass")]
    pub purpose: String,
}

/// The published keys: what an edge needs to verify our signatures.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Keyring {
    /// Loads the configured keys, or the store's (generating the first one of a
    /// purpose that has none).
    pub async fn load(
        config: &SigningConfig,
        store: DynStore,
        vault: Arc<Vault>,
        clock: DynClock,
    ) -> anyhow::Result<Self> {
        for name in config.keys.keys() {
            if Purpose::parse(name).is_none() {
                bail!("signing.keys.{name}: unknown purpose");
            }
        }
        let ring = Self {
            rings: RwLock::new(BTreeMap::new()),
            store,
            vault,
            clock,
            overlap_ms: i64::try_from(config.overlap_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        };
        for purpose in Purpose::ALL {
            let r = match config.keys.get(purpose.name()) {
                Some(c) => configured_ring(purpose, c)?,
                None => {
                    let first = format!("{SETTING_PREFIX}{}.v1", purpose.name());
                    let value = ring.seal_new_key();
                    ring.store.init_setting(&first, &value).await?;
                    ring.read_store_ring(purpose).await?
                }
            };
            ring.rings.write().insert(purpose, r);
        }
        Ok(ring)
    }

    fn seal_new_key(&self) -> String {
        let seed = SigningKey::generate(&mut rand::rngs::OsRng).to_bytes();
        format!(
            "{}:{}",
            self.clock.now().millis(),
            self.vault.encrypt(&B64.encode(seed))
        )
    }

    async fn read_store_ring(&self, purpose: Purpose) -> anyhow::Result<Ring> {
        let mut keys: Vec<Key> = Vec::new();
        for n in 1u32.. {
            let kid = format!("{}-v{n}", purpose.name());
            let setting = format!("{SETTING_PREFIX}{}.v{n}", purpose.name());
            let Some(value) = self.store.setting(&setting).await? else {
                break;
            };
            let (created, sealed) = value
                .split_once(':')
                .ok_or_else(|| anyhow!("setting {setting} is malformed"))?;
            let created: i64 = created
                .parse()
                .with_context(|| format!("setting {setting}: creation time"))?;
            let seed = self
                .vault
                .open(sealed)
                .await
                .with_context(|| format!("cannot open signing key {kid}"))?;
            if let Some(prev) = keys.last_mut() {
                prev.retired_at = Some(created);
            }
            keys.push(Key {
                signing: signing_key_of(&kid, &seed)?,
                kid,
                retired_at: None,
            });
        }
        if keys.is_empty() {
            bail!("no {} signing key in the store", purpose.name());
        }
        Ok(Ring {
            keys,
            from_store: true,
        })
    }

    /// Re-reads store-kept keys (another node may have rotated).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let purposes: Vec<Purpose> = self
            .rings
            .read()
            .iter()
            .filter(|(_, r)| r.from_store)
            .map(|(p, _)| *p)
            .collect();
        for p in purposes {
            let ring = self.read_store_ring(p).await?;
            self.rings.write().insert(p, ring);
        }
        Ok(())
    }

    /// Adds the next store-kept key of `purpose` and makes it the signing one; its
    /// `kid`. The previous key keeps verifying for the overlap.
    pub async fn rotate(&self, purpose: Purpose) -> anyhow::Result<String> {
        let next = {
            let rings = self.rings.read();
            let ring = rings.get(&purpose).context("unknown purpose")?;
            if !ring.from_store {
                bail!(
                    "{} keys are configured: add a key to signing.keys.{} and make it active",
                    purpose.name(),
                    purpose.name()
                );
            }
            ring.keys.len() + 1
        };
        let setting = format!("{SETTING_PREFIX}{}.v{next}", purpose.name());
        self.store
            .init_setting(&setting, &self.seal_new_key())
            .await?;
        self.reload().await?;
        Ok(self.active_kid(purpose))
    }

    /// The `kid` that signs for `purpose` now.
    pub fn active_kid(&self, purpose: Purpose) -> String {
        self.rings.read()[&purpose].active().kid.clone()
    }

    /// Signs `message` with the active key of `purpose`: its `kid` and signature.
    pub fn sign(&self, purpose: Purpose, message: &[u8]) -> (String, [u8; 64]) {
        let rings = self.rings.read();
        let key = rings[&purpose].active();
        (key.kid.clone(), key.signing.sign(message).to_bytes())
    }

    /// Checks a signature by the key `kid` of `purpose` (strict Ed25519: no
    /// malleable or small-order forms).
    pub fn verify(
        &self,
        purpose: Purpose,
        kid: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        let key = self.verifying_key(purpose, kid)?;
        let sig = Signature::from_slice(signature).map_err(|_| VerifyError::Malformed)?;
        key.verify_strict(message, &sig)
            .map_err(|_| VerifyError::BadSignature)
    }

    fn verifying_key(&self, purpose: Purpose, kid: &str) -> Result<VerifyingKey, VerifyError> {
        let now = self.clock.now().millis();
        let rings = self.rings.read();
        let ring = rings.get(&purpose).ok_or(VerifyError::UnknownKey)?;
        ring.keys
            .iter()
            .find(|k| k.kid == kid && self.in_service(k, now))
            .map(|k| k.signing.verifying_key())
            .ok_or(VerifyError::UnknownKey)
    }

    fn in_service(&self, key: &Key, now: i64) -> bool {
        key.retired_at
            .is_none_or(|at| now < at.saturating_add(self.overlap_ms))
    }

    /// Signs `payload` as a JWS compact serialization (`alg: EdDSA`, with `kid` and
    /// `typ`): `base64url(header).base64url(payload).base64url(signature)`.
    pub fn sign_jws(&self, purpose: Purpose, typ: &str, payload: &[u8]) -> String {
        let rings = self.rings.read();
        let key = rings[&purpose].active();
        jws::sign(&key.signing, &key.kid, typ, payload)
    }

    /// Verifies a JWS compact token signed for `purpose`; its header and payload.
    pub fn verify_jws(
        &self,
        purpose: Purpose,
        token: &str,
    ) -> Result<(JwsHeader, Vec<u8>), VerifyError> {
        let parts = jws::split(token)?;
        self.verify(purpose, &parts.header.kid, parts.signed, &parts.signature)?;
        Ok((parts.header, parts.payload))
    }

    /// Every key in service, for every purpose.
    pub fn jwks(&self) -> Jwks {
        let now = self.clock.now().millis();
        let rings = self.rings.read();
        let keys = rings
            .iter()
            .flat_map(|(p, r)| {
                r.keys
                    .iter()
                    .filter(move |k| self.in_service(k, now))
                    .map(move |k| Jwk {
                        kty: "OKP".into(),
                        crv: "Ed25519".into(),
                        x: b64url(k.signing.verifying_key().as_bytes()),
                        kid: k.kid.clone(),
                        alg: "EdDSA".into(),
                        use_: "sig".into(),
                        purpose: p.name().into(),
                    })
            })
            .collect();
        Jwks { keys }
    }
}

fn signing_key_of(kid: &str, b64: &str) -> anyhow::Result<SigningKey> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| anyhow!("signing key {kid:?} is not base64"))?;
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow!("signing key {kid:?} must be 32 bytes, is {}", b.len()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Configured keys: every one verifies (the operator removes a retired key); the
/// active one signs.
fn configured_ring(purpose: Purpose, c: &KeyConfig) -> anyhow::Result<Ring> {
    let ctx = || format!("signing.keys.{}", purpose.name());
    let mut keys = Vec::new();
    for (kid, seed) in &c.keys {
        crate::vault::check_key_id(kid)
            .map_err(|e| anyhow!(e))
            .with_context(ctx)?;
        if kid != &c.active {
            keys.push(Key {
                signing: signing_key_of(kid, seed.expose_secret()).with_context(ctx)?,
                kid: kid.clone(),
                retired_at: None,
            });
        }
    }
    let active = c
        .keys
        .get(&c.active)
        .ok_or_else(|| anyhow!("the active key {:?} is not among the keys", c.active))
        .with_context(ctx)?;
    keys.push(Key {
        signing: signing_key_of(&c.active, active.expose_secret()).with_context(ctx)?,
        kid: c.active.clone(),
        retired_at: None,
    });
    Ok(Ring {
        keys,
        from_store: false,
    })
}

/// A fresh random seed, base64 (the form `signing.keys` takes).
pub fn new_seed() -> String {
    B64.encode(SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
}

#[cfg(test)]
mod tests;

//! Field encryption at rest: secrets the platform must read back (TOTP secrets, later
//! personal data) are sealed with AES-256-GCM under versioned keys, so a copy of the
//! database alone reveals nothing and keys can rotate without downtime.
//!
//! A sealed value is text: `<key id>:<base64(nonce || ciphertext || tag)>` with a
//! random 96-bit nonce. Keys come from configuration (`encryption_keys`) or, when it
//! is unset, are generated and kept in the store's settings (`encryption_key.v1`,
//! `v2` …; the highest version is active).
pub mod rotation;

use crate::store::DynStore;
use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use parking_lot::RwLock;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;

/// Prefix of the settings that hold store-kept keys.
const SETTING_PREFIX: &str = "encryption_key.";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("no encryption key with id {0:?}")]
    UnknownKey(String),
    /// Wrong key material or a value altered at rest.
    #[error("sealed value does not authenticate")]
    Tampered,
}

/// A key id: 1 to 32 ASCII letters, digits or '-'.
pub fn check_key_id(id: &str) -> Result<(), String> {
    if (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(format!(
            "key id {id:?} must be 1 to 32 letters, digits or '-'"
        ))
    }
}

/// The key id a sealed value names, without decrypting it.
pub fn key_id_of(sealed: &str) -> Option<&str> {
    sealed.split_once(':').map(|(id, _)| id)
}

/// A fresh random key, base64 (the form configuration and the store keep).
pub fn new_key() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    B64.encode(bytes)
}

fn cipher_of(id: &str, b64: &str) -> anyhow::Result<Aes256Gcm> {
    check_key_id(id).map_err(|e| anyhow!(e))?;
    let bytes = B64
        .decode(b64.trim())
        .map_err(|_| anyhow!("encryption key {id:?} is not base64"))?;
    if bytes.len() != 32 {
        bail!("encryption key {id:?} must be 32 bytes, is {}", bytes.len());
    }
    Ok(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))
}

struct Ring {
    active: String,
    ciphers: BTreeMap<String, Aes256Gcm>,
}

/// Where the keys come from, so that a newer key can be picked up while serving.
enum Source {
    Fixed,
    Store(DynStore),
}

pub struct Vault {
    ring: RwLock<Ring>,
    source: Source,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.ring.read();
        f.debug_struct("Vault")
            .field("active", &ring.active)
            .field("keys", &ring.ciphers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Keys as configured: the active id and every id's base64 key.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub active: String,
    pub keys: BTreeMap<String, SecretString>,
}

impl Vault {
    /// A vault over fixed keys (configuration, tests).
    pub fn from_keys(active: &str, keys: &BTreeMap<String, SecretString>) -> anyhow::Result<Self> {
        let ciphers = keys
            .iter()
            .map(|(id, k)| Ok((id.clone(), cipher_of(id, k.expose_secret())?)))
            .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
        if !ciphers.contains_key(active) {
            bail!("the active encryption key {active:?} is not among the configured keys");
        }
        Ok(Self {
            ring: RwLock::new(Ring {
                active: active.to_owned(),
                ciphers,
            }),
            source: Source::Fixed,
        })
    }

    /// The configured keys, or the store's (generating the first one when there is
    /// none).
    pub async fn load(config: Option<&KeyConfig>, store: DynStore) -> anyhow::Result<Self> {
        if let Some(c) = config {
            return Self::from_keys(&c.active, &c.keys).context("encryption_keys");
        }
        store
            .init_setting(&format!("{SETTING_PREFIX}v1"), &new_key())
            .await?;
        let ring = read_store_ring(store.as_ref()).await?;
        Ok(Self {
            ring: RwLock::new(ring),
            source: Source::Store(store),
        })
    }

    /// Whether keys are kept in the store (and `rotate-key` may add one).
    pub fn keys_in_store(&self) -> bool {
        matches!(self.source, Source::Store(_))
    }

    pub fn active_key_id(&self) -> String {
        self.ring.read().active.clone()
    }

    /// Seals `plain` under the active key.
    pub fn encrypt(&self, plain: &str) -> String {
        let ring = self.ring.read();
        let cipher = &ring.ciphers[&ring.active];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // AES-GCM only refuses plaintexts beyond 64 GiB.
        let sealed = cipher
            .encrypt(&nonce, plain.as_bytes())
            .expect("AES-GCM encrypts any field-sized value");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{}:{}", ring.active, B64.encode(out))
    }

    /// Opens a sealed value with the key it names.
    pub fn decrypt(&self, sealed: &str) -> Result<String, VaultError> {
        let (id, body) = sealed.split_once(':').ok_or(VaultError::Malformed)?;
        let bytes = B64.decode(body).map_err(|_| VaultError::Malformed)?;
        if bytes.len() < NONCE_LEN + 16 {
            return Err(VaultError::Malformed);
        }
        let ring = self.ring.read();
        let cipher = ring
            .ciphers
            .get(id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_owned()))?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| VaultError::Tampered)?;
        String::from_utf8(plain).map_err(|_| VaultError::Malformed)
    }

    /// Like [`Vault::decrypt`], but a key this process has not seen yet (another
    /// process rotated) is looked up in the store once before giving up; the newest
    /// key found becomes the active one here too.
    pub async fn open(&self, sealed: &str) -> anyhow::Result<String> {
        match self.decrypt(sealed) {
            Err(VaultError::UnknownKey(_)) if self.keys_in_store() => {
                self.reload().await?;
                self.decrypt(sealed).map_err(Into::into)
            }
            other => other.map_err(Into::into),
        }
    }

    /// Re-reads store-kept keys (no-op for configured keys).
    pub async fn reload(&self) -> anyhow::Result<()> {
        if let Source::Store(store) = &self.source {
            let ring = read_store_ring(store.as_ref()).await?;
            *self.ring.write() = ring;
        }
        Ok(())
    }

    /// Adds the next store-kept key and makes it active; its id.
    pub async fn add_store_key(&self) -> anyhow::Result<String> {
        let Source::Store(store) = &self.source else {
            bail!(
                "encryption keys are configured: add a key to encryption_keys and make it active"
            );
        };
        let next = self
            .ring
            .read()
            .ciphers
            .keys()
            .filter_map(|id| id.strip_prefix('v')?.parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        store
            .init_setting(&format!("{SETTING_PREFIX}v{next}"), &new_key())
            .await?;
        self.reload().await?;
        Ok(self.active_key_id())
    }
}

/// Store-kept keys are `v1`, `v2` … without gaps; the highest is active.
async fn read_store_ring(store: &dyn crate::store::Store) -> anyhow::Result<Ring> {
    let mut ciphers = BTreeMap::new();
    let mut active = None;
    for n in 1u32.. {
        let id = format!("v{n}");
        let Some(key) = store.setting(&format!("{SETTING_PREFIX}{id}")).await? else {
            break;
        };
        ciphers.insert(id.clone(), cipher_of(&id, &key)?);
        active = Some(id);
    }
    let active = active.ok_or_else(|| anyhow!("no encryption key in the store"))?;
    Ok(Ring { active, ciphers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
        pairs
            .iter()
            .map(|(id, k)| (id.to_string(), SecretString::from(k.to_string())))
            .collect()
    }

    #[test]
    fn round_trip_with_random_nonces() {
        let k = new_key();
        let v = Vault::from_keys("k1", &keys(&[("k1", &k)])).unwrap();
        let a = v.encrypt("JBSWY3DPEHPK3PXP");
        let b = v.encrypt("JBSWY3DPEHPK3PXP");
        assert_ne!(a, b, "a fresh nonce per value");
        assert_eq!(key_id_of(&a), Some("k1"));
        assert!(!a.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(v.decrypt(&a).unwrap(), "JBSWY3DPEHPK3PXP");
        assert_eq!(v.decrypt(&v.encrypt("")).unwrap(), "");
    }

    #[test]
    fn a_wrong_key_or_an_unknown_id_is_an_error() {
        let ours = Vault::from_keys("k1", &keys(&[("k1", &new_key())])).unwrap();
        let theirs = Vault::from_keys("k1", &keys(&[("k1", &new_key())])).unwrap();
        let sealed = theirs.encrypt("secret");
        assert_eq!(ours.decrypt(&sealed), Err(VaultError::Tampered));
        let other = Vault::from_keys("k2", &keys(&[("k2", &new_key())])).unwrap();
        assert_eq!(
            other.decrypt(&sealed),
            Err(VaultError::UnknownKey("k1".into()))
        );
        for bad in ["", "k1", "k1:", "k1:!!!", "k1:AAAA"] {
            assert_eq!(ours.decrypt(bad), Err(VaultError::Malformed), "{bad}");
        }
    }

    #[test]
    fn tampered_ciphertext_does_not_authenticate() {
        let v = Vault::from_keys("k1", &keys(&[("k1", &new_key())])).unwrap();
        let sealed = v.encrypt("secret value");
        let (id, body) = sealed.split_once(':').unwrap();
        let mut bytes = B64.decode(body).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let altered = format!("{id}:{}", B64.encode(&bytes));
            assert_eq!(v.decrypt(&altered), Err(VaultError::Tampered));
            bytes[i] ^= 1;
        }
        assert_eq!(
            v.decrypt(&format!("{id}:{}", B64.encode(&bytes))).unwrap(),
            "secret value"
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_seals_under_the_new_key() {
        let (k1, k2) = (new_key(), new_key());
        let before = Vault::from_keys("k1", &keys(&[("k1", &k1)])).unwrap();
        let old = before.encrypt("secret");
        let after = Vault::from_keys("k2", &keys(&[("k1", &k1), ("k2", &k2)])).unwrap();
        assert_eq!(after.decrypt(&old).unwrap(), "secret");
        let new = after.encrypt(&after.decrypt(&old).unwrap());
        assert_eq!(key_id_of(&new), Some("k2"));
        let only_new = Vault::from_keys("k2", &keys(&[("k2", &k2)])).unwrap();
        assert_eq!(only_new.decrypt(&new).unwrap(), "secret");
        assert!(only_new.decrypt(&old).is_err());
    }

    #[test]
    fn configured_keys_are_checked() {
        assert!(Vault::from_keys("k9", &keys(&[("k1", &new_key())])).is_err());
        assert!(Vault::from_keys("k1", &keys(&[("k1", "c2hvcnQ=")])).is_err());
        assert!(Vault::from_keys("k1", &keys(&[("k1", "not base64!")])).is_err());
        assert!(Vault::from_keys("a:b", &keys(&[("a:b", &new_key())])).is_err());
        let v = Vault::from_keys("k1", &keys(&[("k1", &new_key())])).unwrap();
        assert!(!format!("{v:?}").contains('='), "keys never print");
    }
}

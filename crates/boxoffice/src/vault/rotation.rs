//! Key rotation: every sealed value moves to the active key. Each value is re-sealed
//! on its own with a compare-and-swap, so a run can stop anywhere and a later run
//! finishes the job; a finished run finds nothing left to do.
use super::{key_id_of, Vault};
use crate::store::{DynStore, SealedField};
use anyhow::{bail, Context};

/// Values re-sealed per store round trip.
const PAGE: u32 = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The key every value is sealed under now.
    pub active: String,
    /// Whether this run added that key (store-kept keys only).
    pub added_key: bool,
    /// Values re-sealed by this run.
    pub resealed: u64,
}

/// Adds a new active key when `add_key` and the keys live in the store (configured
/// keys rotate by editing `encryption_keys`), then re-seals every value that is
/// not under the active key.
pub async fn rotate(
    vault: &Vault,
    store: &DynStore,
    add_key: bool,
) -> anyhow::Result<RotationReport> {
    let added_key = add_key && vault.keys_in_store();
    if added_key {
        let id = vault.add_store_key().await?;
        tracing::info!(key = %id, "encryption key added");
    } else {
        vault.reload().await?;
    }
    let active = vault.active_key_id();
    let mut resealed = 0;
    for field in SealedField::ALL {
        loop {
            let page = store.sealed_not_under(field, &active, PAGE).await?;
            if page.is_empty() {
                break;
            }
            let mut moved = 0;
            for (row, sealed) in &page {
                let plain = vault.open(sealed).await.with_context(|| {
                    format!(
                        "cannot open the {} of row {row} (sealed under key {:?})",
                        field.name(),
                        key_id_of(sealed).unwrap_or("?")
                    )
                })?;
                if store
                    .reseal(field, row, sealed, &vault.encrypt(&plain))
                    .await?
                {
                    moved += 1;
                }
            }
            if moved == 0 {
                bail!(
                    "{} values changed under every attempt to re-seal them; run rotate-key again",
                    field.name()
                );
            }
            resealed += moved;
        }
        tracing::info!(field = field.name(), key = %active, "sealed values rotated");
    }
    Ok(RotationReport {
        active,
        added_key,
        resealed,
    })
}

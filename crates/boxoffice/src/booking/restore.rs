//! What live inventory is rebuilt from: every show's zones, the live bookings and
//! the seats they took, read from the store, which is the source of truth. Read at
//! start-up and again when an engine outside the process lost its state.
use crate::inventory::Restore;
use crate::seating::SeatingCache;
use crate::store::DynStore;

/// The record of live inventory, and the seat maps it was read with.
pub async fn read(store: &DynStore) -> anyhow::Result<(Restore, SeatingCache)> {
    let shows = store.all_show_bundles().await?;
    let snapshot = store.inventory_snapshot().await?;
    let seating = SeatingCache::load(store).await?;
    let orders = seating.orders(&store.live_items().await?)?;
    let restore = Restore {
        shows,
        snapshot,
        maps: seating.maps(),
        orders,
    };
    Ok((restore, seating))
}

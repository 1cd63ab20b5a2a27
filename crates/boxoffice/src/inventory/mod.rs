//! Live inventory: the counters the hot path takes tickets from, and the index of
//! holds by deadline that expiry walks. The store stays the source of truth: counters
//! are rebuilt from it at start-up and only change after the store agreed.
mod local;

pub use local::LocalInventory;

use crate::store::{BookingRecord, InventorySnapshot, ShowBundle};
use async_trait::async_trait;
use boxoffice_domain::seating::{SeatMap, SeatState};
use boxoffice_domain::stock::{Selection, StockError, Taken, ZoneCounts};
use boxoffice_domain::{BookingId, ShowId, Timestamp, UserId, ZoneId};
use std::sync::Arc;

/// Tickets of one booking, as the inventory tracks them. A booking of seats or of
/// several items names its first zone and its total here; the engine remembers what
/// each item took and returns exactly that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub booking: BookingId,
    pub show: ShowId,
    pub zone: ZoneId,
    pub buyer: UserId,
    pub quantity: u32,
    pub expires_at: Timestamp,
}

impl From<&BookingRecord> for Hold {
    fn from(b: &BookingRecord) -> Self {
        Self {
            booking: b.id,
            show: b.show_id,
            zone: b.zone_id,
            buyer: b.user_id,
            quantity: b.quantity,
            expires_at: b.expires_at,
        }
    }
}

/// Counters of one show.
#[derive(Clone, Debug, Default)]
pub struct ShowCounts {
    pub zones: Vec<(ZoneId, ZoneCounts)>,
    /// Most tickets any one buyer holds or owns for the show.
    pub max_per_buyer: u32,
    /// Holds not yet confirmed, released or expired.
    pub pending_holds: usize,
}

impl ShowCounts {
    /// Counters of `zone`, if the inventory tracks it.
    pub fn zone(&self, zone: ZoneId) -> Option<ZoneCounts> {
        self.zones
            .iter()
            .find(|(id, _)| *id == zone)
            .map(|(_, c)| *c)
    }
}

#[async_trait]
pub trait Inventory: Send + Sync {
    /// Adds a zone or changes its capacity; never below what is held or sold.
    async fn set_capacity(
        &self,
        show: ShowId,
        zone: ZoneId,
        capacity: u32,
    ) -> Result<(), StockError>;
    /// Drops a zone with nothing held or sold.
    async fn remove_zone(&self, show: ShowId, zone: ZoneId) -> Result<(), StockError>;
    /// Drops a show with nothing held or sold.
    async fn remove_show(&self, show: ShowId) -> Result<(), StockError>;
    /// The atomic step of the hot path: buyer limit, availability and the hold's
    /// deadline, checked and applied together or not at all.
    async fn reserve(
        &self,
        hold: &Hold,
        selection: &Selection,
        per_buyer_limit: u32,
    ) -> Result<(), StockError>;
    /// The atomic step for orders of seats or several zones: every item is taken, the
    /// limit counting all of them, or nothing is. Returns what each item took.
    async fn reserve_items(
        &self,
        hold: &Hold,
        items: &[(ZoneId, Selection)],
        per_buyer_limit: u32,
    ) -> Result<Vec<Taken>, StockError>;
    /// Gives a show a seat map (its seated zones' capacity becomes their sellable
    /// seats); refused while those zones have tickets held or sold.
    async fn set_seating(&self, show: ShowId, map: Arc<SeatMap>) -> Result<(), StockError>;
    /// The seat states of a show, unless they are still at `known` version.
    async fn seat_states(&self, show: ShowId, known: Option<u64>) -> Option<SeatStates>;
    /// Returns a hold's tickets to sale.
    async fn release(&self, hold: &Hold) -> Result<(), StockError>;
    /// Turns a hold into sold tickets.
    async fn confirm(&self, hold: &Hold) -> Result<(), StockError>;
    /// Puts a sale's tickets back on sale (a refund).
    async fn return_sold(&self, hold: &Hold) -> Result<(), StockError>;
    /// Stops tracking a hold's deadline (the store says it already ended).
    async fn forget(&self, hold: &Hold);
    /// Holds whose deadline is at or before `now`, oldest first.
    async fn due(&self, now: Timestamp, max: usize) -> Vec<Hold>;
    async fn counts(&self, show: ShowId) -> Option<ShowCounts>;
    /// Replaces all state with what the store holds.
    async fn restore(
        &self,
        shows: &[ShowBundle],
        snapshot: &InventorySnapshot,
    ) -> anyhow::Result<()>;
    /// After `restore`: puts back seat maps and the seats and items of live orders,
    /// and checks them against the restored zone counters.
    async fn restore_seating(
        &self,
        maps: &[(ShowId, Arc<SeatMap>)],
        orders: &[RestoredOrder],
    ) -> anyhow::Result<()>;
}

/// A live booking of seats or several items, as the store lists it at start-up.
#[derive(Clone, Debug)]
pub struct RestoredOrder {
    pub show: ShowId,
    pub booking: BookingId,
    pub sold: bool,
    pub items: Vec<Taken>,
}

/// Every seat's state with the version it was read at.
#[derive(Clone, Debug)]
pub struct SeatStates {
    pub version: u64,
    pub states: Vec<SeatState>,
}

pub type DynInventory = Arc<dyn Inventory>;

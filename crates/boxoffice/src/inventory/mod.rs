//! Live inventory: the counters the hot path takes tickets from, and the index of
//! holds by deadline that expiry walks. The store stays the source of truth: counters
//! are rebuilt from it at start-up and only change after the store agreed.
mod local;
mod redis;

pub use self::redis::{RedisInventory, RedisSettings};
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
    /// Holds not yet confirmed, released or expired.
    pub pending_holds: usize,
    /// Moves on every change of the show (an engine outside the process), so a
    /// repair can tell the show stood still since it was read.
    pub version: u64,
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
    /// deadline, checked and applied together or not at all. Keep the [`Grant`]
    /// until the hold is recorded (or released): a rebuild waits for it.
    async fn reserve(
        &self,
        hold: &Hold,
        selection: &Selection,
        per_buyer_limit: u32,
    ) -> Result<Grant, StockError>;
    /// The atomic step for orders of seats or several zones: every item is taken, the
    /// limit counting all of them, or nothing is. Returns what each item took.
    async fn reserve_items(
        &self,
        hold: &Hold,
        items: &[(ZoneId, Selection)],
        per_buyer_limit: u32,
    ) -> Result<(Vec<Taken>, Grant), StockError>;
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
    /// Most tickets any one buyer holds or owns for the show: a walk over every
    /// buyer, so apart from `counts`, which metrics and admission read often.
    async fn max_per_buyer(&self, show: ShowId) -> Option<u32>;
    /// Replaces all state with what the store holds.
    async fn restore(&self, state: &Restore) -> anyhow::Result<()>;
    /// Puts one show back to the record's state (`state` holds at least that show),
    /// unless the show changed since `counts` read `seen`. Returns whether it did.
    /// The in-process engine is rebuilt only at start-up and never repairs.
    async fn repair(&self, _show: ShowId, _state: &Restore, _seen: u64) -> anyhow::Result<bool> {
        Ok(false)
    }
    /// Whether other processes sell from the same inventory (their catalog changes
    /// reach this one by the store, not by its caches).
    fn shared(&self) -> bool {
        false
    }
    /// Whether an engine outside the process answers (readiness); `None` for the
    /// in-process engine.
    async fn probe(&self) -> Option<Result<(), String>> {
        None
    }
}

/// Everything live inventory is rebuilt from, as the store has it.
#[derive(Clone, Debug, Default)]
pub struct Restore {
    pub shows: Vec<ShowBundle>,
    pub snapshot: InventorySnapshot,
    /// Seat maps of seated shows.
    pub maps: Vec<(ShowId, Arc<SeatMap>)>,
    /// Live bookings of seats or several items.
    pub orders: Vec<RestoredOrder>,
}

impl Restore {
    /// The part of the record about one show.
    pub fn only(&self, show: ShowId) -> Restore {
        let shows: Vec<ShowBundle> = self
            .shows
            .iter()
            .filter(|b| b.show.id == show)
            .cloned()
            .collect();
        let zones: std::collections::HashSet<ZoneId> = shows
            .iter()
            .flat_map(|b| b.zones.iter().map(|z| z.id))
            .collect();
        Restore {
            shows,
            snapshot: InventorySnapshot {
                zones: (self.snapshot.zones.iter())
                    .filter(|(z, _, _)| zones.contains(z))
                    .copied()
                    .collect(),
                buyers: (self.snapshot.buyers.iter())
                    .filter(|(s, _, _)| *s == show)
                    .copied()
                    .collect(),
                pending: (self.snapshot.pending.iter())
                    .filter(|b| b.show_id == show)
                    .cloned()
                    .collect(),
            },
            maps: self
                .maps
                .iter()
                .filter(|(s, _)| *s == show)
                .cloned()
                .collect(),
            orders: self
                .orders
                .iter()
                .filter(|o| o.show == show)
                .cloned()
                .collect(),
        }
    }
}

/// A hold taken but perhaps not yet recorded. While any grant lives, the engine does
/// not rebuild its state from the store: the record would miss the hold and its
/// tickets could be sold twice. Dropping it ends the wait.
#[derive(Debug, Default)]
#[must_use = "keep the grant until the hold is recorded"]
pub struct Grant {
    _shared: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
}

impl Grant {
    /// A grant no rebuild waits for (an engine that never rebuilds).
    pub fn free() -> Self {
        Self { _shared: None }
    }

    fn gated(guard: tokio::sync::OwnedRwLockReadGuard<()>) -> Self {
        Self {
            _shared: Some(guard),
        }
    }
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

//! The in-process engine of the embedded mode: one mutex per show guards that show's
//! `ShowStock` and its deadline index, so the critical section of a reserve is a few
//! hash lookups and additions — no IO, no await.
use super::{Grant, Hold, Inventory, Restore, SeatStates, ShowCounts};
use anyhow::bail;
use async_trait::async_trait;
use boxoffice_domain::seating::{SeatMap, SeatState};
use boxoffice_domain::stock::ZoneCounts;
use boxoffice_domain::stock::{Selection, ShowStock, StockError, Taken, ZoneStock};
use boxoffice_domain::{BookingId, ShowId, Timestamp, UserId, ZoneId};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

#[derive(Default)]
struct ShowEntry {
    stock: ShowStock,
    deadlines: BTreeMap<(Timestamp, BookingId), Hold>,
    /// What each held or sold order of seats or several items took.
    orders: HashMap<BookingId, Vec<Taken>>,
}

#[derive(Default)]
pub struct LocalInventory {
    shows: RwLock<HashMap<ShowId, Arc<Mutex<ShowEntry>>>>,
}

impl LocalInventory {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, show: ShowId) -> Option<Arc<Mutex<ShowEntry>>> {
        self.shows.read().get(&show).cloned()
    }

    fn entry_or_create(&self, show: ShowId) -> Arc<Mutex<ShowEntry>> {
        if let Some(e) = self.entry(show) {
            return e;
        }
        self.shows.write().entry(show).or_default().clone()
    }

    fn with_show<T>(
        &self,
        show: ShowId,
        f: impl FnOnce(&mut ShowEntry) -> Result<T, StockError>,
    ) -> Result<T, StockError> {
        let entry = self.entry(show).ok_or(StockError::UnknownZone)?;
        let mut guard = entry.lock();
        f(&mut guard)
    }
}

#[async_trait]
impl Inventory for LocalInventory {
    async fn set_capacity(
        &self,
        show: ShowId,
        zone: ZoneId,
        capacity: u32,
    ) -> Result<(), StockError> {
        self.entry_or_create(show)
            .lock()
            .stock
            .set_capacity(zone, capacity)
    }

    async fn remove_zone(&self, show: ShowId, zone: ZoneId) -> Result<(), StockError> {
        self.with_show(show, |e| e.stock.remove_zone(zone))
    }

    async fn remove_show(&self, show: ShowId) -> Result<(), StockError> {
        let mut shows = self.shows.write();
        if let Some(entry) = shows.get(&show) {
            let committed: u32 = entry
                .lock()
                .stock
                .zones()
                .map(|(_, c)| c.held + c.sold)
                .sum();
            if committed > 0 {
                return Err(StockError::InUse { committed });
            }
        }
        shows.remove(&show);
        Ok(())
    }

    async fn reserve(
        &self,
        hold: &Hold,
        selection: &Selection,
        limit: u32,
    ) -> Result<Grant, StockError> {
        self.with_show(hold.show, |e| {
            e.stock.reserve(hold.zone, hold.buyer, selection, limit)?;
            e.deadlines
                .insert((hold.expires_at, hold.booking), hold.clone());
            Ok(Grant::free())
        })
    }

    async fn reserve_items(
        &self,
        hold: &Hold,
        items: &[(ZoneId, Selection)],
        limit: u32,
    ) -> Result<(Vec<Taken>, Grant), StockError> {
        self.with_show(hold.show, |e| {
            let taken = e.stock.reserve_items(hold.buyer, items, limit)?;
            e.orders.insert(hold.booking, taken.clone());
            e.deadlines
                .insert((hold.expires_at, hold.booking), hold.clone());
            Ok((taken, Grant::free()))
        })
    }

    async fn set_seating(&self, show: ShowId, map: Arc<SeatMap>) -> Result<(), StockError> {
        self.entry_or_create(show).lock().stock.set_seating(map)
    }

    async fn seat_states(&self, show: ShowId, known: Option<u64>) -> Option<SeatStates> {
        let entry = self.entry(show)?;
        let guard = entry.lock();
        let seats = guard.stock.seats()?;
        if known == Some(seats.version()) {
            return Some(SeatStates {
                version: seats.version(),
                states: Vec::new(),
            });
        }
        Some(SeatStates {
            version: seats.version(),
            states: seats.states().to_vec(),
        })
    }

    async fn release(&self, hold: &Hold) -> Result<(), StockError> {
        self.with_show(hold.show, |e| {
            match e.orders.get(&hold.booking) {
                Some(items) => e.stock.release_items(hold.buyer, items)?,
                None => e.stock.release(hold.zone, hold.buyer, hold.quantity)?,
            }
            e.orders.remove(&hold.booking);
            e.deadlines.remove(&(hold.expires_at, hold.booking));
            Ok(())
        })
    }

    async fn confirm(&self, hold: &Hold) -> Result<(), StockError> {
        self.with_show(hold.show, |e| {
            match e.orders.get(&hold.booking) {
                Some(items) => e.stock.confirm_items(items)?,
                None => e.stock.confirm(hold.zone, hold.quantity)?,
            }
            e.deadlines.remove(&(hold.expires_at, hold.booking));
            Ok(())
        })
    }

    async fn return_sold(&self, hold: &Hold) -> Result<(), StockError> {
        self.with_show(hold.show, |e| {
            match e.orders.get(&hold.booking) {
                Some(items) => e.stock.return_sold_items(hold.buyer, items)?,
                None => e.stock.return_sold(hold.zone, hold.buyer, hold.quantity)?,
            }
            e.orders.remove(&hold.booking);
            Ok(())
        })
    }

    async fn forget(&self, hold: &Hold) {
        if let Some(entry) = self.entry(hold.show) {
            entry
                .lock()
                .deadlines
                .remove(&(hold.expires_at, hold.booking));
        }
    }

    async fn due(&self, now: Timestamp, max: usize) -> Vec<Hold> {
        let entries: Vec<_> = self.shows.read().values().cloned().collect();
        let mut out = Vec::new();
        for entry in entries {
            let guard = entry.lock();
            out.extend(
                guard
                    .deadlines
                    .values()
                    .take_while(|h| h.expires_at <= now)
                    .take(max)
                    .cloned(),
            );
        }
        out.sort_by_key(|h| (h.expires_at, h.booking));
        out.truncate(max);
        out
    }

    async fn counts(&self, show: ShowId) -> Option<ShowCounts> {
        let entry = self.entry(show)?;
        let guard = entry.lock();
        let mut zones: Vec<_> = guard.stock.zones().collect();
        zones.sort_by_key(|(id, _)| *id);
        Some(ShowCounts {
            zones,
            pending_holds: guard.deadlines.len(),
            version: 0,
        })
    }

    async fn max_per_buyer(&self, show: ShowId) -> Option<u32> {
        Some(self.entry(show)?.lock().stock.max_owned())
    }

    async fn restore(&self, state: &Restore) -> anyhow::Result<()> {
        let rebuilt = Self::rebuild(state)?;
        *self.shows.write() = rebuilt.shows.into_inner();
        Ok(())
    }
}

/// One show's whole state, for an engine that keeps it elsewhere.
#[derive(Clone, Debug, Default)]
pub struct ShowState {
    pub zones: Vec<(ZoneId, ZoneCounts)>,
    pub buyers: Vec<(UserId, u32)>,
    /// Holds not yet confirmed, released or expired.
    pub holds: Vec<Hold>,
    /// What each held or sold order of seats or several items took.
    pub orders: Vec<(BookingId, Vec<Taken>)>,
    /// Every seat's state, for a seated show.
    pub seats: Option<Vec<SeatState>>,
    /// The zones sold by seat.
    pub seated: Vec<ZoneId>,
}

impl LocalInventory {
    /// Builds live state from the store's record, checking it as it goes: counters
    /// within capacity, seats and counters in agreement.
    pub fn rebuild(state: &Restore) -> anyhow::Result<Self> {
        let snapshot = &state.snapshot;
        let tallies: HashMap<ZoneId, (u32, u32)> = snapshot
            .zones
            .iter()
            .map(|(z, h, s)| (*z, (*h, *s)))
            .collect();
        let mut rebuilt: HashMap<ShowId, ShowEntry> = HashMap::new();
        for bundle in &state.shows {
            let entry = rebuilt.entry(bundle.show.id).or_default();
            for z in &bundle.zones {
                let (held, sold) = tallies.get(&z.id).copied().unwrap_or_default();
                match ZoneStock::restore(z.details.capacity, held, sold) {
                    Ok(stock) => entry.stock.restore_zone(z.id, stock),
                    Err(e) => bail!("zone {} cannot be restored: {e}", z.id),
                }
            }
        }
        for (show, buyer, owned) in &snapshot.buyers {
            if let Some(entry) = rebuilt.get_mut(show) {
                entry.stock.restore_buyer(*buyer, *owned);
            }
        }
        for b in &snapshot.pending {
            if let Some(entry) = rebuilt.get_mut(&b.show_id) {
                entry.deadlines.insert((b.expires_at, b.id), Hold::from(b));
            }
        }
        for (show, map) in &state.maps {
            rebuilt
                .entry(*show)
                .or_default()
                .stock
                .restore_seating(map.clone());
        }
        for order in &state.orders {
            let Some(e) = rebuilt.get_mut(&order.show) else {
                bail!(
                    "booking {} is for a show the inventory lacks",
                    order.booking
                );
            };
            for item in &order.items {
                if !item.seats.is_empty() {
                    if let Err(err) = e.stock.restore_seats(&item.seats, order.sold) {
                        bail!(
                            "seats of booking {} cannot be restored: {err}",
                            order.booking
                        );
                    }
                }
            }
            e.orders.insert(order.booking, order.items.clone());
        }
        // Seat states and zone counters were rebuilt from different rows: they must agree.
        for (show, map) in &state.maps {
            let Some(seats) = rebuilt
                .get(show)
                .and_then(|e| e.stock.seats().map(|s| (e, s)))
            else {
                continue;
            };
            let (e, seats) = seats;
            for (zone, _) in map.zones() {
                let c = e.stock.zone(zone).unwrap_or_default();
                let (free, held, sold) = seats.tally(zone);
                if (free, held, sold) != (c.available(), c.held, c.sold) {
                    bail!(
                        "zone {zone}: seats free/held/sold {free}/{held}/{sold} disagree with counters {}/{}/{}",
                        c.available(),
                        c.held,
                        c.sold
                    );
                }
            }
        }
        Ok(Self {
            shows: RwLock::new(
                rebuilt
                    .into_iter()
                    .map(|(k, v)| (k, Arc::new(Mutex::new(v))))
                    .collect(),
            ),
        })
    }

    /// Every show's state, to be copied into another engine.
    pub fn export(&self) -> Vec<(ShowId, ShowState)> {
        self.shows
            .read()
            .iter()
            .map(|(id, entry)| {
                let e = entry.lock();
                let state = ShowState {
                    zones: e.stock.zones().collect(),
                    buyers: e.stock.buyers().collect(),
                    holds: e.deadlines.values().cloned().collect(),
                    orders: e.orders.iter().map(|(b, t)| (*b, t.clone())).collect(),
                    seats: e.stock.seats().map(|s| s.states().to_vec()),
                    seated: e
                        .stock
                        .seats()
                        .map(|s| s.map().zones().map(|(z, _)| z).collect())
                        .unwrap_or_default(),
                };
                (*id, state)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::UserId;

    fn hold(show: ShowId, zone: ZoneId, buyer: UserId, quantity: u32, expires_at: i64) -> Hold {
        Hold {
            booking: BookingId::new(),
            show,
            zone,
            buyer,
            quantity,
            expires_at: Timestamp::from_millis(expires_at),
        }
    }

    #[tokio::test]
    async fn deadlines_follow_holds() {
        let inv = LocalInventory::new();
        let (show, zone, buyer) = (ShowId::new(), ZoneId::new(), UserId::new());
        inv.set_capacity(show, zone, 10).await.unwrap();
        let early = hold(show, zone, buyer, 2, 1_000);
        let late = hold(show, zone, buyer, 3, 5_000);
        let _ = inv
            .reserve(&early, &Selection::Quantity(2), 6)
            .await
            .unwrap();
        let _ = inv
            .reserve(&late, &Selection::Quantity(3), 6)
            .await
            .unwrap();
        assert_eq!(
            inv.due(Timestamp::from_millis(2_000), 10).await,
            vec![early.clone()]
        );
        inv.release(&early).await.unwrap();
        assert!(inv.due(Timestamp::from_millis(2_000), 10).await.is_empty());
        inv.confirm(&late).await.unwrap();
        assert!(inv.due(Timestamp::from_millis(9_000), 10).await.is_empty());
        let c = inv.counts(show).await.unwrap();
        assert_eq!(c.zones[0].1.sold, 3);
        assert_eq!(c.zones[0].1.available(), 7);
        assert_eq!(inv.max_per_buyer(show).await, Some(3));
        assert!(matches!(
            inv.remove_show(show).await,
            Err(StockError::InUse { committed: 3 })
        ));
    }

    #[tokio::test]
    async fn unknown_show_is_refused() {
        let inv = LocalInventory::new();
        let h = hold(ShowId::new(), ZoneId::new(), UserId::new(), 1, 0);
        assert_eq!(
            inv.reserve(&h, &Selection::Quantity(1), 1).await.err(),
            Some(StockError::UnknownZone)
        );
    }
}

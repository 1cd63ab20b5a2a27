//! Inventory rules of one show: per-zone counters and per-buyer totals, changed only
//! through operations that keep `available + held + sold == capacity` and
//! `available >= 0`. The in-process engine runs these under one lock per show; the
//! Redis engine mirrors them in Lua.
//!
//! A request names a [`Selection`] per zone: a quantity in a general-admission zone,
//! chosen seats or the best adjacent seats of a seated zone. An order of several
//! selections is taken whole or not at all; the show-level rules (limits, expiry)
//! count every ticket of it.
use crate::ids::{UserId, ZoneId};
use crate::seating::{SeatError, SeatMap, SeatStock};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// `n` tickets anywhere in a general-admission zone.
    Quantity(u32),
    /// These seats (indices in the show's seat map) of a seated zone.
    Seats(Vec<u32>),
    /// `n` adjacent seats of a seated zone, chosen by the engine.
    BestAvailable(u32),
}

impl Selection {
    pub fn count(&self) -> u32 {
        match self {
            Selection::Quantity(n) | Selection::BestAvailable(n) => *n,
            Selection::Seats(s) => u32::try_from(s.len()).unwrap_or(u32::MAX),
        }
    }
}

/// What one selection took: tickets in a zone and, in a seated zone, which seats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    pub zone: ZoneId,
    pub quantity: u32,
    pub seats: Vec<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneCounts {
    pub capacity: u32,
    pub held: u32,
    pub sold: u32,
}

impl ZoneCounts {
    pub fn available(&self) -> u32 {
        self.capacity - self.held - self.sold
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum StockError {
    #[error("only {available} tickets left")]
    SoldOut { available: u32 },
    #[error("the buyer already has {owned} of {limit} tickets for this show")]
    LimitReached { owned: u32, limit: u32 },
    #[error("unknown zone")]
    UnknownZone,
    #[error("capacity {capacity} is below the {committed} tickets held or sold")]
    BelowCommitted { capacity: u32, committed: u32 },
    #[error("zone still has {committed} tickets held or sold")]
    InUse { committed: u32 },
    #[error("counters would become inconsistent")]
    Inconsistent,
    #[error(transparent)]
    Seat(#[from] SeatError),
    #[error("no {wanted} adjacent seats are left together")]
    NoAdjacentSeats { wanted: u32 },
    /// Seats named in a general-admission zone.
    #[error("this zone has no numbered seats")]
    NotSeated,
    /// A seated zone's capacity is its sellable seats, set with its seat map.
    #[error("this zone's capacity is its number of seats for sale")]
    SeatedCapacity,
    /// The live inventory cannot be reached or is being rebuilt: nothing was taken.
    #[error("live inventory is unavailable for a moment; nothing was taken")]
    Unavailable,
    /// A bare quantity asked of a seated zone.
    #[error("this zone sells numbered seats: name them or ask for the best available")]
    SeatsRequired,
}

/// Counters of one general-admission zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneStock(ZoneCounts);

impl ZoneStock {
    pub fn new(capacity: u32) -> Self {
        Self(ZoneCounts {
            capacity,
            held: 0,
            sold: 0,
        })
    }

    /// Rebuilds counters from stored bookings; refuses impossible totals.
    pub fn restore(capacity: u32, held: u32, sold: u32) -> Result<Self, StockError> {
        match held.checked_add(sold) {
            Some(c) if c <= capacity => Ok(Self(ZoneCounts {
                capacity,
                held,
                sold,
            })),
            _ => Err(StockError::BelowCommitted {
                capacity,
                committed: held.saturating_add(sold),
            }),
        }
    }

    pub fn counts(&self) -> ZoneCounts {
        self.0
    }

    fn take(&mut self, n: u32) -> Result<(), StockError> {
        let available = self.0.available();
        if n > available {
            return Err(StockError::SoldOut { available });
        }
        self.0.held += n;
        Ok(())
    }

    fn release(&mut self, n: u32) -> Result<(), StockError> {
        self.0.held = self.0.held.checked_sub(n).ok_or(StockError::Inconsistent)?;
        Ok(())
    }

    fn sell(&mut self, n: u32) -> Result<(), StockError> {
        self.release(n)?;
        self.0.sold += n;
        Ok(())
    }

    fn unsell(&mut self, n: u32) -> Result<(), StockError> {
        self.0.sold = self.0.sold.checked_sub(n).ok_or(StockError::Inconsistent)?;
        Ok(())
    }

    fn resize(&mut self, capacity: u32) -> Result<(), StockError> {
        let committed = self.0.held + self.0.sold;
        if capacity < committed {
            return Err(StockError::BelowCommitted {
                capacity,
                committed,
            });
        }
        self.0.capacity = capacity;
        Ok(())
    }
}

/// All inventory state of one show: its zones and what each buyer holds or owns.
#[derive(Clone, Debug, Default)]
pub struct ShowStock {
    zones: HashMap<ZoneId, ZoneStock>,
    per_buyer: HashMap<UserId, u32>,
    seats: Option<SeatStock>,
}

impl ShowStock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn zone(&self, zone: ZoneId) -> Option<ZoneCounts> {
        self.zones.get(&zone).map(ZoneStock::counts)
    }

    pub fn zones(&self) -> impl Iterator<Item = (ZoneId, ZoneCounts)> + '_ {
        self.zones.iter().map(|(id, z)| (*id, z.counts()))
    }

    /// Tickets `buyer` holds or owns for this show.
    pub fn owned_by(&self, buyer: UserId) -> u32 {
        self.per_buyer.get(&buyer).copied().unwrap_or(0)
    }

    /// Every buyer with tickets held or owned, and how many.
    pub fn buyers(&self) -> impl Iterator<Item = (UserId, u32)> + '_ {
        self.per_buyer.iter().map(|(b, n)| (*b, *n))
    }

    pub fn max_owned(&self) -> u32 {
        self.per_buyer.values().copied().max().unwrap_or(0)
    }

    /// Adds a zone or changes its capacity (never below what is held or sold).
    pub fn set_capacity(&mut self, zone: ZoneId, capacity: u32) -> Result<(), StockError> {
        if self.is_seated(zone) && self.zone(zone).is_some_and(|c| c.capacity != capacity) {
            return Err(StockError::SeatedCapacity);
        }
        match self.zones.get_mut(&zone) {
            Some(z) => z.resize(capacity),
            None => {
                self.zones.insert(zone, ZoneStock::new(capacity));
                Ok(())
            }
        }
    }

    /// Puts back a zone rebuilt from the store.
    pub fn restore_zone(&mut self, zone: ZoneId, stock: ZoneStock) {
        self.zones.insert(zone, stock);
    }

    /// Puts back what a buyer held or owned according to the store.
    pub fn restore_buyer(&mut self, buyer: UserId, owned: u32) {
        *self.per_buyer.entry(buyer).or_default() += owned;
    }

    /// Removes a zone nobody holds or owns tickets in.
    pub fn remove_zone(&mut self, zone: ZoneId) -> Result<(), StockError> {
        let z = self.zones.get(&zone).ok_or(StockError::UnknownZone)?;
        let c = z.counts();
        if c.held + c.sold > 0 {
            return Err(StockError::InUse {
                committed: c.held + c.sold,
            });
        }
        self.zones.remove(&zone);
        Ok(())
    }

    /// The hot path of general admission: checks the buyer's limit and the zone's
    /// availability and applies both, or changes nothing. Seats go through
    /// [`ShowStock::reserve_items`].
    pub fn reserve(
        &mut self,
        zone: ZoneId,
        buyer: UserId,
        selection: &Selection,
        limit: u32,
    ) -> Result<(), StockError> {
        let Selection::Quantity(n) = *selection else {
            return Err(StockError::NotSeated);
        };
        if self.is_seated(zone) {
            return Err(StockError::SeatsRequired);
        }
        let owned = self.owned_by(buyer);
        if owned.saturating_add(n) > limit {
            return Err(StockError::LimitReached { owned, limit });
        }
        self.zones
            .get_mut(&zone)
            .ok_or(StockError::UnknownZone)?
            .take(n)?;
        *self.per_buyer.entry(buyer).or_default() += n;
        Ok(())
    }

    /// Returns held tickets to sale (cancel, expiry, failed write).
    pub fn release(&mut self, zone: ZoneId, buyer: UserId, n: u32) -> Result<(), StockError> {
        let owned = self.owned_by(buyer);
        if owned < n {
            return Err(StockError::Inconsistent);
        }
        self.zones
            .get_mut(&zone)
            .ok_or(StockError::UnknownZone)?
            .release(n)?;
        if owned == n {
            self.per_buyer.remove(&buyer);
        } else {
            self.per_buyer.insert(buyer, owned - n);
        }
        Ok(())
    }

    /// Puts sold tickets back on sale (a refunded booking).
    pub fn return_sold(&mut self, zone: ZoneId, buyer: UserId, n: u32) -> Result<(), StockError> {
        let owned = self.owned_by(buyer);
        if owned < n {
            return Err(StockError::Inconsistent);
        }
        self.zones
            .get_mut(&zone)
            .ok_or(StockError::UnknownZone)?
            .unsell(n)?;
        if owned == n {
            self.per_buyer.remove(&buyer);
        } else {
            self.per_buyer.insert(buyer, owned - n);
        }
        Ok(())
    }

    /// Turns held tickets into sold ones; the buyer's total is unchanged.
    pub fn confirm(&mut self, zone: ZoneId, n: u32) -> Result<(), StockError> {
        self.zones
            .get_mut(&zone)
            .ok_or(StockError::UnknownZone)?
            .sell(n)
    }

    pub fn seats(&self) -> Option<&SeatStock> {
        self.seats.as_ref()
    }

    fn is_seated(&self, zone: ZoneId) -> bool {
        self.seats.as_ref().is_some_and(|s| s.map().is_seated(zone))
    }

    /// Gives the show a seat map: each of its zones is sold by seat from now on, with
    /// its sellable seats as capacity. Refused while any zone it touches (in the old
    /// or the new map) has tickets held or sold.
    pub fn set_seating(&mut self, map: Arc<SeatMap>) -> Result<(), StockError> {
        let old = self.seats.as_ref().map(|s| s.map().clone());
        let touched = map.zones().map(|(z, _)| z).chain(
            old.iter()
                .flat_map(|m| m.zones().map(|(z, _)| z))
                .collect::<Vec<_>>(),
        );
        for zone in touched {
            if let Some(c) = self.zone(zone) {
                if c.held + c.sold > 0 {
                    return Err(StockError::InUse {
                        committed: c.held + c.sold,
                    });
                }
            }
        }
        for (zone, sellable) in map.zones() {
            self.zones.insert(zone, ZoneStock::new(sellable));
        }
        self.seats = Some(SeatStock::new(map));
        Ok(())
    }

    /// Puts back a show's seat map at start-up, all seats free: the zone counters are
    /// restored from the store apart, then each booking's seats with
    /// [`ShowStock::restore_seats`].
    pub fn restore_seating(&mut self, map: Arc<SeatMap>) {
        self.seats = Some(SeatStock::new(map));
    }

    /// Puts back the state of seats a stored booking holds or owns.
    pub fn restore_seats(&mut self, seats: &[u32], sold: bool) -> Result<(), StockError> {
        let stock = self.seats.as_mut().ok_or(StockError::NotSeated)?;
        let ok = if sold {
            stock.hold(seats) && stock.sell(seats)
        } else {
            stock.hold(seats)
        };
        ok.then_some(()).ok_or(StockError::Inconsistent)
    }

    fn take(&mut self, zone: ZoneId, selection: &Selection) -> Result<Taken, StockError> {
        let seated = self.is_seated(zone);
        let counts = self.zone(zone).ok_or(StockError::UnknownZone)?;
        let seats = match selection {
            Selection::Quantity(_) if seated => return Err(StockError::SeatsRequired),
            Selection::Quantity(_) => Vec::new(),
            Selection::Seats(_) | Selection::BestAvailable(_) if !seated => {
                return Err(StockError::NotSeated)
            }
            Selection::Seats(seats) => {
                if let Some(stock) = &self.seats {
                    stock.check(zone, seats)?;
                }
                seats.clone()
            }
            Selection::BestAvailable(n) => {
                if *n > counts.available() {
                    return Err(StockError::SoldOut {
                        available: counts.available(),
                    });
                }
                self.seats
                    .as_ref()
                    .and_then(|s| s.best_available(zone, *n))
                    .ok_or(StockError::NoAdjacentSeats { wanted: *n })?
            }
        };
        let quantity = selection.count();
        self.zones
            .get_mut(&zone)
            .ok_or(StockError::UnknownZone)?
            .take(quantity)?;
        if let Some(stock) = self.seats.as_mut().filter(|_| seated) {
            if !stock.hold(&seats) {
                return Err(StockError::Inconsistent);
            }
        }
        Ok(Taken {
            zone,
            quantity,
            seats,
        })
    }

    /// Undoes `take` (the request failed further on), leaving the buyer untouched.
    fn untake(&mut self, t: &Taken) {
        if let Some(z) = self.zones.get_mut(&t.zone) {
            let _ = z.release(t.quantity);
        }
        if let Some(stock) = self.seats.as_mut() {
            stock.release(&t.seats);
        }
    }

    /// The hot path for orders: every selection is taken, with the buyer's limit
    /// counting all their tickets, or nothing changes. Returns what each took.
    pub fn reserve_items(
        &mut self,
        buyer: UserId,
        items: &[(ZoneId, Selection)],
        limit: u32,
    ) -> Result<Vec<Taken>, StockError> {
        let n = items
            .iter()
            .fold(0u32, |n, (_, s)| n.saturating_add(s.count()));
        let owned = self.owned_by(buyer);
        if owned.saturating_add(n) > limit {
            return Err(StockError::LimitReached { owned, limit });
        }
        let mut taken: Vec<Taken> = Vec::with_capacity(items.len());
        for (zone, selection) in items {
            match self.take(*zone, selection) {
                Ok(t) => taken.push(t),
                Err(e) => {
                    for t in taken.iter().rev() {
                        self.untake(t);
                    }
                    return Err(e);
                }
            }
        }
        *self.per_buyer.entry(buyer).or_default() += n;
        Ok(taken)
    }

    /// Checks that every item's seats are in `from` (so a move applies whole).
    fn seats_in(&self, items: &[Taken], state: crate::seating::SeatState) -> bool {
        items.iter().all(|t| {
            t.seats.is_empty()
                || self.seats.as_ref().is_some_and(|s| {
                    t.seats
                        .iter()
                        .all(|&i| s.states().get(i as usize) == Some(&state))
                })
        })
    }

    fn zones_hold(&self, items: &[Taken], f: impl Fn(ZoneCounts) -> u32) -> bool {
        let mut need: HashMap<ZoneId, u32> = HashMap::new();
        for t in items {
            *need.entry(t.zone).or_default() += t.quantity;
        }
        need.iter()
            .all(|(z, n)| self.zone(*z).is_some_and(|c| f(c) >= *n))
    }

    fn drop_owned(&mut self, buyer: UserId, n: u32) -> Result<(), StockError> {
        let owned = self.owned_by(buyer);
        if owned < n {
            return Err(StockError::Inconsistent);
        }
        if owned == n {
            self.per_buyer.remove(&buyer);
        } else {
            self.per_buyer.insert(buyer, owned - n);
        }
        Ok(())
    }

    /// Returns an order's held tickets and seats to sale, whole.
    pub fn release_items(&mut self, buyer: UserId, items: &[Taken]) -> Result<(), StockError> {
        let n = items.iter().map(|t| t.quantity).sum();
        if self.owned_by(buyer) < n
            || !self.zones_hold(items, |c| c.held)
            || !self.seats_in(items, crate::seating::SeatState::Held)
        {
            return Err(StockError::Inconsistent);
        }
        for t in items {
            self.untake(t);
        }
        self.drop_owned(buyer, n)
    }

    /// Turns an order's held tickets and seats into sold ones, whole.
    pub fn confirm_items(&mut self, items: &[Taken]) -> Result<(), StockError> {
        if !self.zones_hold(items, |c| c.held)
            || !self.seats_in(items, crate::seating::SeatState::Held)
        {
            return Err(StockError::Inconsistent);
        }
        for t in items {
            if let Some(z) = self.zones.get_mut(&t.zone) {
                z.sell(t.quantity)?;
            }
            if let Some(stock) = self.seats.as_mut() {
                stock.sell(&t.seats);
            }
        }
        Ok(())
    }

    /// Puts an order's sold tickets and seats back on sale (a refund), whole.
    pub fn return_sold_items(&mut self, buyer: UserId, items: &[Taken]) -> Result<(), StockError> {
        let n = items.iter().map(|t| t.quantity).sum();
        if self.owned_by(buyer) < n
            || !self.zones_hold(items, |c| c.sold)
            || !self.seats_in(items, crate::seating::SeatState::Sold)
        {
            return Err(StockError::Inconsistent);
        }
        for t in items {
            if let Some(z) = self.zones.get_mut(&t.zone) {
                z.unsell(t.quantity)?;
            }
            if let Some(stock) = self.seats.as_mut() {
                stock.unsell(&t.seats);
            }
        }
        self.drop_owned(buyer, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seating::SeatError;
    use proptest::prelude::*;

    #[test]
    fn returned_tickets_are_on_sale_again() {
        let zone = ZoneId::new();
        let buyer = UserId::new();
        let mut show = ShowStock::new();
        show.set_capacity(zone, 4).unwrap();
        show.reserve(zone, buyer, &Selection::Quantity(3), 4)
            .unwrap();
        show.confirm(zone, 3).unwrap();
        assert_eq!(show.zone(zone).unwrap().available(), 1);
        show.return_sold(zone, buyer, 3).unwrap();
        let c = show.zone(zone).unwrap();
        assert_eq!((c.available(), c.held, c.sold), (4, 0, 0));
        assert_eq!(show.owned_by(buyer), 0);
        assert_eq!(
            show.return_sold(zone, buyer, 1),
            Err(StockError::Inconsistent),
            "nothing sold is left to return"
        );
    }

    #[test]
    fn reserve_is_all_or_nothing() {
        let zone = ZoneId::new();
        let (ana, bo) = (UserId::new(), UserId::new());
        let mut show = ShowStock::new();
        show.set_capacity(zone, 5).unwrap();
        show.reserve(zone, ana, &Selection::Quantity(4), 4).unwrap();
        assert_eq!(
            show.reserve(zone, ana, &Selection::Quantity(1), 4),
            Err(StockError::LimitReached { owned: 4, limit: 4 })
        );
        assert_eq!(
            show.reserve(zone, bo, &Selection::Quantity(2), 4),
            Err(StockError::SoldOut { available: 1 })
        );
        assert_eq!(show.owned_by(bo), 0, "a refused reserve changes nothing");
        show.confirm(zone, 4).unwrap();
        assert_eq!(
            show.set_capacity(zone, 3),
            Err(StockError::BelowCommitted {
                capacity: 3,
                committed: 4
            })
        );
        assert_eq!(
            show.remove_zone(zone),
            Err(StockError::InUse { committed: 4 })
        );
        assert_eq!(
            show.zone(zone).unwrap(),
            ZoneCounts {
                capacity: 5,
                held: 0,
                sold: 4
            }
        );
    }

    fn seated_show(ga: ZoneId, seated: ZoneId, width: i32) -> ShowStock {
        use crate::seating::Seat;
        let seats = (0..2u32)
            .flat_map(|row| {
                (1..=width).map(move |number| Seat {
                    zone: seated,
                    row,
                    number,
                    rank: row,
                    blocked: row == 1 && number == 1,
                })
            })
            .collect();
        let mut show = ShowStock::new();
        show.set_capacity(ga, 3).unwrap();
        show.set_seating(Arc::new(SeatMap::new(seats).unwrap()))
            .unwrap();
        show
    }

    #[test]
    fn an_order_is_taken_whole_or_not_at_all() {
        let (ga, seated) = (ZoneId::new(), ZoneId::new());
        let (ana, bo) = (UserId::new(), UserId::new());
        let mut show = seated_show(ga, seated, 4);
        assert_eq!(
            show.zone(seated).unwrap().capacity,
            7,
            "the blocked seat is not for sale"
        );
        let taken = show
            .reserve_items(
                ana,
                &[
                    (ga, Selection::Quantity(2)),
                    (seated, Selection::Seats(vec![1, 2])),
                ],
                6,
            )
            .unwrap();
        assert_eq!(taken[1].seats, vec![1, 2]);
        let before = (
            show.zone(ga),
            show.zone(seated),
            show.seats().unwrap().states().to_vec(),
        );
        for (order, err) in [
            (
                vec![
                    (ga, Selection::Quantity(1)),
                    (seated, Selection::Seats(vec![0, 2])),
                ],
                StockError::Seat(SeatError::Taken { seat: 2 }),
            ),
            (
                vec![
                    (seated, Selection::Seats(vec![0])),
                    (ga, Selection::Quantity(2)),
                ],
                StockError::SoldOut { available: 1 },
            ),
            (
                vec![(seated, Selection::Seats(vec![4]))],
                StockError::Seat(SeatError::Blocked { seat: 4 }),
            ),
            (
                vec![(seated, Selection::Quantity(1))],
                StockError::SeatsRequired,
            ),
            (
                vec![(ga, Selection::BestAvailable(1))],
                StockError::NotSeated,
            ),
            (
                vec![(seated, Selection::BestAvailable(4))],
                StockError::NoAdjacentSeats { wanted: 4 },
            ),
        ] {
            assert_eq!(show.reserve_items(bo, &order, 6), Err(err));
            let after = (
                show.zone(ga),
                show.zone(seated),
                show.seats().unwrap().states().to_vec(),
            );
            assert_eq!(after, before, "a refused order changes nothing");
            assert_eq!(show.owned_by(bo), 0);
        }
        show.confirm_items(&taken).unwrap();
        assert_eq!(show.zone(seated).unwrap().sold, 2);
        show.return_sold_items(ana, &taken).unwrap();
        assert_eq!(show.owned_by(ana), 0);
        assert_eq!(show.zone(seated).unwrap().available(), 7);
        assert_eq!(
            show.return_sold_items(ana, &taken),
            Err(StockError::Inconsistent)
        );
    }

    proptest! {
        /// Random orders, releases and sales over a general-admission and a seated zone:
        /// the zone counters match the seat states, no seat is in two orders, and the
        /// counters always add up to capacity.
        #[test]
        fn seats_and_counters_agree(ops in proptest::collection::vec((0..3usize, 0..8u32, 0..8u32, 1..4u32, 0..4u8), 1..120)) {
            let (ga, seated) = (ZoneId::new(), ZoneId::new());
            let buyers = [UserId::new(), UserId::new(), UserId::new()];
            let mut show = seated_show(ga, seated, 4);
            let mut orders: Vec<(usize, Vec<Taken>, bool)> = Vec::new();
            for (buyer, a, b, n, kind) in ops {
                match kind {
                    0 => {
                        let order = vec![(ga, Selection::Quantity(n)), (seated, Selection::Seats(vec![a, b]))];
                        if let Ok(t) = show.reserve_items(buyers[buyer], &order, 6) { orders.push((buyer, t, false)) }
                    }
                    1 => {
                        if let Ok(t) = show.reserve_items(buyers[buyer], &[(seated, Selection::BestAvailable(n))], 6) { orders.push((buyer, t, false)) }
                    }
                    2 if !orders.is_empty() => {
                        let i = a as usize % orders.len();
                        if orders[i].2 {
                            let (buyer, t, _) = orders.remove(i);
                            show.return_sold_items(buyers[buyer], &t).unwrap();
                        } else {
                            show.confirm_items(&orders[i].1).unwrap();
                            orders[i].2 = true;
                        }
                    }
                    3 if !orders.is_empty() => {
                        let i = b as usize % orders.len();
                        if !orders[i].2 {
                            let (buyer, t, _) = orders.remove(i);
                            show.release_items(buyers[buyer], &t).unwrap();
                        }
                    }
                    _ => {}
                }
                let mut seen = std::collections::HashSet::new();
                for (_, t, _) in &orders {
                    for item in t {
                        for s in &item.seats { prop_assert!(seen.insert(*s), "seat {} in two orders", s); }
                    }
                }
                let c = show.zone(seated).unwrap();
                let (free, held, sold) = show.seats().unwrap().tally(seated);
                prop_assert_eq!((free, held, sold), (c.available(), c.held, c.sold));
                for zone in [ga, seated] {
                    let c = show.zone(zone).unwrap();
                    prop_assert_eq!(c.available() + c.held + c.sold, c.capacity);
                }
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Reserve { zone: usize, buyer: usize, n: u32 },
        Confirm(usize),
        Cancel(usize),
        Expire(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..2usize, 0..4usize, 1..4u32).prop_map(|(zone, buyer, n)| Op::Reserve { zone, buyer, n }),
            1 => any::<usize>().prop_map(Op::Confirm),
            1 => any::<usize>().prop_map(Op::Cancel),
            1 => any::<usize>().prop_map(Op::Expire),
        ]
    }

    proptest! {
        /// Random interleavings of reserve/confirm/cancel/expire keep every invariant.
        #[test]
        fn invariants_hold_under_any_interleaving(caps in (1..20u32, 1..20u32), limit in 1..6u32, ops in proptest::collection::vec(op(), 1..200)) {
            let zones = [ZoneId::new(), ZoneId::new()];
            let buyers = [UserId::new(), UserId::new(), UserId::new(), UserId::new()];
            let mut show = ShowStock::new();
            show.set_capacity(zones[0], caps.0).unwrap();
            show.set_capacity(zones[1], caps.1).unwrap();
            // The model: open holds and sold tickets per (zone, buyer).
            let mut holds: Vec<(usize, usize, u32)> = Vec::new();
            let mut sold = [0u32; 2];
            let mut owned = [0u32; 4];
            for op in ops {
                match op {
                    Op::Reserve { zone, buyer, n } => {
                        let held_in_zone: u32 = holds.iter().filter(|h| h.0 == zone).map(|h| h.2).sum();
                        let available = [caps.0, caps.1][zone] - held_in_zone - sold[zone];
                        let expect_ok = owned[buyer] + n <= limit && n <= available;
                        let got = show.reserve(zones[zone], buyers[buyer], &Selection::Quantity(n), limit);
                        prop_assert_eq!(got.is_ok(), expect_ok);
                        if expect_ok {
                            holds.push((zone, buyer, n));
                            owned[buyer] += n;
                        }
                    }
                    Op::Confirm(i) if !holds.is_empty() => {
                        let (zone, _, n) = holds.remove(i % holds.len());
                        show.confirm(zones[zone], n).unwrap();
                        sold[zone] += n;
                    }
                    Op::Cancel(i) | Op::Expire(i) if !holds.is_empty() => {
                        let (zone, buyer, n) = holds.remove(i % holds.len());
                        show.release(zones[zone], buyers[buyer], n).unwrap();
                        owned[buyer] -= n;
                    }
                    _ => {}
                }
                for (z, zone) in zones.iter().enumerate() {
                    let c = show.zone(*zone).unwrap();
                    let held: u32 = holds.iter().filter(|h| h.0 == z).map(|h| h.2).sum();
                    prop_assert_eq!(c.held, held);
                    prop_assert_eq!(c.sold, sold[z]);
                    prop_assert_eq!(c.available() + c.held + c.sold, c.capacity);
                }
                for (b, buyer) in buyers.iter().enumerate() {
                    prop_assert_eq!(show.owned_by(*buyer), owned[b]);
                    prop_assert!(owned[b] <= limit);
                }
            }
        }
    }
}

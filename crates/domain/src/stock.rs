//! Inventory rules of one show: per-zone counters and per-buyer totals, changed only
//! through operations that keep `available + held + sold == capacity` and
//! `available >= 0`. The in-process engine runs these under one lock per show; the
//! Redis engine mirrors them in Lua.
//!
//! A request names a [`Selection`]: today a quantity in a general-admission zone.
//! Reserved seating adds a variant carrying seat ids and a seat map in [`ZoneStock`];
//! the show-level rules (limits, atomicity, expiry) stay as they are.
use crate::ids::{UserId, ZoneId};
use std::collections::HashMap;
use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// `n` tickets anywhere in a general-admission zone.
    Quantity(u32),
}

impl Selection {
    pub fn count(&self) -> u32 {
        match self {
            Selection::Quantity(n) => *n,
        }
    }
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

    pub fn max_owned(&self) -> u32 {
        self.per_buyer.values().copied().max().unwrap_or(0)
    }

    /// Adds a zone or changes its capacity (never below what is held or sold).
    pub fn set_capacity(&mut self, zone: ZoneId, capacity: u32) -> Result<(), StockError> {
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

    /// The hot path: checks the buyer's limit and the zone's availability and applies
    /// both, or changes nothing.
    pub fn reserve(
        &mut self,
        zone: ZoneId,
        buyer: UserId,
        selection: &Selection,
        limit: u32,
    ) -> Result<(), StockError> {
        let n = selection.count();
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
}

#[cfg(test)]
mod tests {
    use super::*;
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

//! Seat maps of shows kept in memory, like the show cache: the hot path resolves seat
//! ids and zones without a query, and the start-up rebuild of the inventory uses them.
use crate::inventory::RestoredOrder;
use crate::store::{DynStore, LayoutSeatRecord, LiveItem, ShowSeatingRecord};
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::seating::{Seat, SeatMap};
use boxoffice_domain::stock::Taken;
use boxoffice_domain::{BookingId, LayoutId, SeatId, ShowId, ZoneId};
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One show's seats: the layout's seats in index order, the zone each sells in, and
/// the rules' view of them.
#[derive(Debug)]
pub struct ShowSeats {
    pub show_id: ShowId,
    pub layout_id: LayoutId,
    pub seats: Arc<Vec<LayoutSeatRecord>>,
    pub zones: Vec<ZoneId>,
    pub blocked: HashSet<SeatId>,
    pub map: Arc<SeatMap>,
    by_id: HashMap<SeatId, u32>,
}

impl ShowSeats {
    /// Builds a show's map; `Err` names what does not fit (a category without a zone).
    pub fn build(
        record: &ShowSeatingRecord,
        seats: Arc<Vec<LayoutSeatRecord>>,
    ) -> Result<Self, String> {
        let categories: HashMap<&str, ZoneId> = record
            .categories
            .iter()
            .map(|(c, z)| (c.as_str(), *z))
            .collect();
        let blocked: HashSet<SeatId> = record.blocked.iter().copied().collect();
        let mut zones = Vec::with_capacity(seats.len());
        let mut rules = Vec::with_capacity(seats.len());
        for s in seats.iter() {
            let zone = *categories
                .get(s.category.as_str())
                .ok_or_else(|| format!("category {} has no zone", s.category))?;
            zones.push(zone);
            rules.push(Seat {
                zone,
                row: s.row_order,
                number: s.number,
                rank: s.row_rank,
                blocked: blocked.contains(&s.id),
            });
        }
        let map = SeatMap::new(rules).map_err(|e| e.to_string())?;
        let by_id = seats.iter().map(|s| (s.id, s.idx)).collect();
        Ok(Self {
            show_id: record.show_id,
            layout_id: record.layout_id,
            seats,
            zones,
            blocked,
            map: Arc::new(map),
            by_id,
        })
    }

    pub fn index_of(&self, seat: SeatId) -> Option<u32> {
        self.by_id.get(&seat).copied()
    }

    pub fn seat(&self, index: u32) -> Option<&LayoutSeatRecord> {
        self.seats.get(index as usize)
    }

    pub fn zone_of(&self, index: u32) -> Option<ZoneId> {
        self.zones.get(index as usize).copied()
    }

    /// Whether `zone` of this show is sold by seat.
    pub fn is_seated(&self, zone: ZoneId) -> bool {
        self.map.is_seated(zone)
    }
}

#[derive(Default)]
pub struct SeatingCache {
    shows: RwLock<HashMap<ShowId, Arc<ShowSeats>>>,
    /// Moves on every local change, so a refresh read before one does not undo it.
    changes: std::sync::atomic::AtomicU64,
}

impl SeatingCache {
    /// Loads every show's seat map; layouts shared by shows are read once.
    pub async fn load(store: &DynStore) -> anyhow::Result<Self> {
        let mut layouts: HashMap<LayoutId, Arc<Vec<LayoutSeatRecord>>> = HashMap::new();
        let mut shows = HashMap::new();
        for record in store.all_show_seatings().await? {
            let seats = match layouts.get(&record.layout_id) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(store.layout_seats(record.layout_id).await?);
                    layouts.insert(record.layout_id, s.clone());
                    s
                }
            };
            let built = ShowSeats::build(&record, seats)
                .map_err(|e| anyhow::anyhow!("seating of show {}: {e}", record.show_id))?;
            shows.insert(record.show_id, Arc::new(built));
        }
        Ok(Self {
            shows: RwLock::new(shows),
            changes: Default::default(),
        })
    }

    pub fn get(&self, show: ShowId) -> Option<Arc<ShowSeats>> {
        self.shows.read().get(&show).cloned()
    }

    pub fn put(&self, seats: Arc<ShowSeats>) {
        self.shows.write().insert(seats.show_id, seats);
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The change count a refresh compares against.
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Takes every show's seating from `fresh` (read again from the store, where
    /// another node may have seated a show), unless this node seated one since
    /// `changes` was read; returns whether it did.
    pub fn replace_with(&self, fresh: SeatingCache, changes: u64) -> bool {
        let mut shows = self.shows.write();
        if self.changes() != changes {
            return false;
        }
        *shows = fresh.shows.into_inner();
        true
    }

    pub fn maps(&self) -> Vec<(ShowId, Arc<SeatMap>)> {
        self.shows
            .read()
            .values()
            .map(|s| (s.show_id, s.map.clone()))
            .collect()
    }

    /// Groups the stored lines of live orders into what the inventory took for each.
    pub fn orders(&self, items: &[LiveItem]) -> anyhow::Result<Vec<RestoredOrder>> {
        let mut orders: Vec<RestoredOrder> = Vec::new();
        let mut at: HashMap<BookingId, usize> = HashMap::new();
        for item in items {
            let n = *at.entry(item.booking_id).or_insert_with(|| {
                orders.push(RestoredOrder {
                    show: item.show_id,
                    booking: item.booking_id,
                    sold: item.status == BookingStatus::Confirmed,
                    items: Vec::new(),
                });
                orders.len() - 1
            });
            let seats = match item.seat_id {
                None => Vec::new(),
                Some(seat) => {
                    let idx = self
                        .get(item.show_id)
                        .and_then(|s| s.index_of(seat))
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "booking {} holds seat {seat}, not in its show's map",
                                item.booking_id
                            )
                        })?;
                    vec![idx]
                }
            };
            orders[n].items.push(Taken {
                zone: item.zone_id,
                quantity: item.quantity,
                seats,
            });
        }
        Ok(orders)
    }
}

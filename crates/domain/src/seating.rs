//! Reserved seating: a show's seat map (the zone each seat sells in, which seats sit
//! side by side, how far each row is from the stage) and the live state of every seat.
//! Kept apart from the zone counters so general admission pays nothing for it; `stock`
//! drives both under the same per-show lock.
use crate::ids::ZoneId;
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

/// One seat as the rules see it. A seat is named by its index in the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    pub zone: ZoneId,
    /// Row across the whole map (sections included): seats of one row share it.
    pub row: u32,
    /// Position in the row: seats `n` and `n + 1` of one row are side by side.
    pub number: i32,
    /// Distance of the row to the stage: lower is better.
    pub rank: u32,
    /// Never for sale in this show (kills, production holds).
    pub blocked: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SeatMapError {
    #[error("seat {index} does not follow the previous seat in (row, number) order")]
    Unordered { index: u32 },
    #[error("a map holds at most {max} seats")]
    TooLarge { max: u32 },
}

/// The seats of a show, ordered by (row, number): neighbours in a row are neighbours
/// in the index, which keeps adjacency checks to one comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatMap {
    seats: Vec<Seat>,
    sellable: HashMap<ZoneId, u32>,
}

impl SeatMap {
    pub const MAX_SEATS: u32 = 200_000;

    pub fn new(seats: Vec<Seat>) -> Result<Self, SeatMapError> {
        if seats.len() > Self::MAX_SEATS as usize {
            return Err(SeatMapError::TooLarge {
                max: Self::MAX_SEATS,
            });
        }
        for (i, pair) in seats.windows(2).enumerate() {
            if (pair[0].row, pair[0].number) >= (pair[1].row, pair[1].number) {
                return Err(SeatMapError::Unordered {
                    index: u32::try_from(i + 1).unwrap_or(u32::MAX),
                });
            }
        }
        let mut sellable: HashMap<ZoneId, u32> = HashMap::new();
        for s in &seats {
            let n = sellable.entry(s.zone).or_default();
            if !s.blocked {
                *n += 1;
            }
        }
        Ok(Self { seats, sellable })
    }

    pub fn len(&self) -> u32 {
        u32::try_from(self.seats.len()).unwrap_or(u32::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.seats.is_empty()
    }

    pub fn seat(&self, index: u32) -> Option<&Seat> {
        self.seats.get(index as usize)
    }

    /// Zones with seats in this map and how many of their seats are for sale: a
    /// seated zone's capacity.
    pub fn zones(&self) -> impl Iterator<Item = (ZoneId, u32)> + '_ {
        self.sellable.iter().map(|(z, n)| (*z, *n))
    }

    /// Whether `zone` is sold by seat.
    pub fn is_seated(&self, zone: ZoneId) -> bool {
        self.sellable.contains_key(&zone)
    }

    /// Checks what the map alone decides about `seats` asked of `zone`: each exists,
    /// sells in that zone, is for sale and is named once. Whether they are free is
    /// the live state's question ([`SeatStock::check`]).
    pub fn check_request(&self, zone: ZoneId, seats: &[u32]) -> Result<(), SeatError> {
        let mut seen = std::collections::HashSet::with_capacity(seats.len());
        for &seat in seats {
            let s = self.seat(seat).ok_or(SeatError::Unknown { seat })?;
            if !seen.insert(seat) {
                return Err(SeatError::Repeated { seat });
            }
            if s.zone != zone {
                return Err(SeatError::OtherZone { seat });
            }
            if s.blocked {
                return Err(SeatError::Blocked { seat });
            }
        }
        Ok(())
    }

    /// Whether seat `b` is the right-hand neighbour of seat `a`.
    fn next_to(&self, a: usize, b: usize) -> bool {
        b == a + 1
            && self.seats[a].row == self.seats[b].row
            && self.seats[a].number.checked_add(1) == Some(self.seats[b].number)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeatState {
    Free,
    Held,
    Sold,
    Blocked,
}

impl SeatState {
    /// One byte per seat, as an engine outside the process keeps seat states.
    pub fn code(self) -> u8 {
        match self {
            SeatState::Free => b'F',
            SeatState::Held => b'H',
            SeatState::Sold => b'S',
            SeatState::Blocked => b'B',
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            b'F' => SeatState::Free,
            b'H' => SeatState::Held,
            b'S' => SeatState::Sold,
            b'B' => SeatState::Blocked,
            _ => return None,
        })
    }
}

/// Why a set of seats cannot be taken. Seats are named by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SeatError {
    #[error("seat {seat} is not in this show's map")]
    Unknown { seat: u32 },
    #[error("seat {seat} is not for sale")]
    Blocked { seat: u32 },
    #[error("seat {seat} is not in the requested zone")]
    OtherZone { seat: u32 },
    #[error("seat {seat} is named twice")]
    Repeated { seat: u32 },
    #[error("seat {seat} is already taken")]
    Taken { seat: u32 },
}

/// Live state of every seat of one show. `version` moves on every change so readers
/// can tell cheaply whether anything changed.
#[derive(Clone, Debug)]
pub struct SeatStock {
    map: Arc<SeatMap>,
    state: Vec<SeatState>,
    version: u64,
}

impl SeatStock {
    pub fn new(map: Arc<SeatMap>) -> Self {
        let state = map
            .seats
            .iter()
            .map(|s| {
                if s.blocked {
                    SeatState::Blocked
                } else {
                    SeatState::Free
                }
            })
            .collect();
        Self {
            map,
            state,
            version: 0,
        }
    }

    /// Seat states read from elsewhere (an engine outside the process), one per seat
    /// of `map`; `None` when the counts differ.
    pub fn from_states(map: Arc<SeatMap>, state: Vec<SeatState>, version: u64) -> Option<Self> {
        (state.len() == map.seats.len()).then_some(Self {
            map,
            state,
            version,
        })
    }

    pub fn map(&self) -> &Arc<SeatMap> {
        &self.map
    }

    pub fn states(&self) -> &[SeatState] {
        &self.state
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    fn usable(&self, i: usize, zone: ZoneId) -> bool {
        self.state[i] == SeatState::Free && self.map.seats[i].zone == zone
    }

    /// Checks that `seats` can be held together in `zone`: each exists, sells in that
    /// zone, is for sale, is free and is named once.
    pub fn check(&self, zone: ZoneId, seats: &[u32]) -> Result<(), SeatError> {
        self.map.check_request(zone, seats)?;
        for &seat in seats {
            match self.state[seat as usize] {
                SeatState::Free => {}
                SeatState::Blocked => return Err(SeatError::Blocked { seat }),
                SeatState::Held | SeatState::Sold => return Err(SeatError::Taken { seat }),
            }
        }
        Ok(())
    }

    /// `n` side-by-side free seats in `zone`: a placement that leaves no single free
    /// seat stranded beside it if any exists, then the row nearest the stage, then the
    /// lowest row and seat. Placements start at the edge of a free run, so holds pack
    /// against what is already taken.
    pub fn best_available(&self, zone: ZoneId, n: u32) -> Option<Vec<u32>> {
        let n = n as usize;
        if n == 0 {
            return None;
        }
        let len = self.state.len();
        let mut best: Option<(bool, u32, u32, usize)> = None;
        let mut i = 0;
        while i < len {
            if !self.usable(i, zone) {
                i += 1;
                continue;
            }
            let start = i;
            while i + 1 < len && self.usable(i + 1, zone) && self.map.next_to(i, i + 1) {
                i += 1;
            }
            let run = i + 1 - start;
            i += 1;
            if run < n {
                continue;
            }
            // A run one longer than wanted strands a seat wherever the block goes.
            let key = (
                run == n + 1,
                self.map.seats[start].rank,
                self.map.seats[start].row,
                start,
            );
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        best.map(|(_, _, _, start)| (start as u32..(start + n) as u32).collect())
    }

    /// Moves `seats` from `from` to `to`, or changes nothing if one is not in `from`.
    fn set(&mut self, seats: &[u32], from: SeatState, to: SeatState) -> bool {
        if seats
            .iter()
            .any(|&s| self.state.get(s as usize) != Some(&from))
        {
            return false;
        }
        for &s in seats {
            self.state[s as usize] = to;
        }
        self.version += 1;
        true
    }

    pub fn hold(&mut self, seats: &[u32]) -> bool {
        self.set(seats, SeatState::Free, SeatState::Held)
    }

    pub fn release(&mut self, seats: &[u32]) -> bool {
        self.set(seats, SeatState::Held, SeatState::Free)
    }

    pub fn sell(&mut self, seats: &[u32]) -> bool {
        self.set(seats, SeatState::Held, SeatState::Sold)
    }

    pub fn unsell(&mut self, seats: &[u32]) -> bool {
        self.set(seats, SeatState::Sold, SeatState::Free)
    }

    /// Counts of each state in `zone`: `(free, held, sold)`.
    pub fn tally(&self, zone: ZoneId) -> (u32, u32, u32) {
        let mut t = (0, 0, 0);
        for (s, st) in self.map.seats.iter().zip(&self.state) {
            if s.zone == zone {
                match st {
                    SeatState::Free => t.0 += 1,
                    SeatState::Held => t.1 += 1,
                    SeatState::Sold => t.2 += 1,
                    SeatState::Blocked => {}
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `rows` rows of `width` seats in one zone; row 0 nearest the stage.
    fn hall(zone: ZoneId, rows: u32, width: i32) -> SeatStock {
        let mut seats = Vec::new();
        for row in 0..rows {
            for number in 1..=width {
                seats.push(Seat {
                    zone,
                    row,
                    number,
                    rank: row,
                    blocked: false,
                });
            }
        }
        SeatStock::new(Arc::new(SeatMap::new(seats).unwrap()))
    }

    #[test]
    fn maps_must_be_in_row_order() {
        let zone = ZoneId::new();
        let seat = |row, number| Seat {
            zone,
            row,
            number,
            rank: 0,
            blocked: false,
        };
        assert_eq!(
            SeatMap::new(vec![seat(0, 2), seat(0, 1)]),
            Err(SeatMapError::Unordered { index: 1 })
        );
        assert_eq!(
            SeatMap::new(vec![seat(1, 1), seat(1, 1)]),
            Err(SeatMapError::Unordered { index: 1 })
        );
    }

    #[test]
    fn check_names_the_first_bad_seat() {
        let (zone, other) = (ZoneId::new(), ZoneId::new());
        let mut st = hall(zone, 1, 4);
        assert_eq!(st.check(zone, &[0, 9]), Err(SeatError::Unknown { seat: 9 }));
        assert_eq!(
            st.check(zone, &[1, 1]),
            Err(SeatError::Repeated { seat: 1 })
        );
        assert_eq!(st.check(other, &[0]), Err(SeatError::OtherZone { seat: 0 }));
        assert!(st.hold(&[2]));
        assert_eq!(st.check(zone, &[1, 2]), Err(SeatError::Taken { seat: 2 }));
        assert!(!st.hold(&[1, 2]), "a refused move changes nothing");
        assert_eq!(st.states()[1], SeatState::Free);
    }

    #[test]
    fn best_available_prefers_the_front_and_avoids_orphans() {
        let zone = ZoneId::new();
        let mut st = hall(zone, 3, 6);
        assert_eq!(st.best_available(zone, 2), Some(vec![0, 1]));
        // Row 0 now has 4 free seats (2..=5); 3 of them would strand one.
        assert!(st.hold(&[0, 1]));
        assert_eq!(st.best_available(zone, 3), Some(vec![6, 7, 8]));
        assert_eq!(st.best_available(zone, 4), Some(vec![2, 3, 4, 5]));
        assert_eq!(st.best_available(zone, 7), None);
        let v = st.version();
        assert!(st.release(&[0, 1]));
        assert!(st.version() > v);
    }

    /// Placements of `n` adjacent usable seats: `(start, strands a seat, rank)`.
    fn placements(st: &SeatStock, zone: ZoneId, n: usize) -> Vec<(usize, bool, u32)> {
        let len = st.state.len();
        let ok = |i: usize| st.usable(i, zone);
        let linked = |a: usize, b: usize| ok(a) && ok(b) && st.map.next_to(a, b);
        let mut out = Vec::new();
        for s in 0..len {
            if s + n > len || !(s..s + n).all(ok) || !(s..s + n - 1).all(|i| linked(i, i + 1)) {
                continue;
            }
            let e = s + n - 1;
            let left = s >= 1 && linked(s - 1, s) && !(s >= 2 && linked(s - 2, s - 1));
            let right = e + 1 < len && linked(e, e + 1) && !(e + 2 < len && linked(e + 1, e + 2));
            out.push((s, left || right, st.map.seats[s].rank));
        }
        out
    }

    /// A seat drawn at random: (row, number, zone, blocked, state).
    type RawSeat = (u32, i32, u8, bool, u8);

    fn scattered_map() -> impl Strategy<Value = (Vec<RawSeat>, usize)> {
        // Gaps in numbers are aisles.
        (
            proptest::collection::vec((0..4u32, 0..12i32, 0..2u8, any::<bool>(), 0..3u8), 1..40),
            1..5usize,
        )
    }

    proptest! {
        /// The chosen block is adjacent, free and in the zone; it exists whenever some
        /// block does; it strands no seat when a placement that strands none exists,
        /// and no placement of the same kind is nearer the stage.
        #[test]
        fn best_available_is_adjacent_orphan_free_and_nearest((raw, n) in scattered_map()) {
            let zones = [ZoneId::new(), ZoneId::new()];
            let mut raw = raw;
            raw.sort_by_key(|r| (r.0, r.1));
            raw.dedup_by_key(|r| (r.0, r.1));
            let seats: Vec<Seat> = raw.iter().map(|&(row, number, z, blocked, _)| Seat {
                zone: zones[z as usize], row, number, rank: 3 - row, blocked: blocked && number % 3 == 0,
            }).collect();
            let mut st = SeatStock::new(Arc::new(SeatMap::new(seats).unwrap()));
            for (i, r) in raw.iter().enumerate() {
                if st.state[i] == SeatState::Free && r.4 == 1 {
                    st.hold(&[i as u32]);
                }
            }
            let zone = zones[0];
            let options = placements(&st, zone, n);
            let got = st.best_available(zone, n as u32);
            prop_assert_eq!(got.is_some(), !options.is_empty());
            if let Some(seats) = got {
                prop_assert_eq!(seats.len(), n);
                prop_assert!(st.check(zone, &seats).is_ok());
                let start = seats[0] as usize;
                let chosen = options.iter().find(|o| o.0 == start).copied();
                prop_assert!(chosen.is_some(), "the block is one of the placements");
                let (_, strands, rank) = chosen.unwrap();
                let clean_exists = options.iter().any(|o| !o.1);
                prop_assert_eq!(strands, !clean_exists, "strands a seat only when unavoidable");
                let nearest = options.iter().filter(|o| o.1 == strands).map(|o| o.2).min().unwrap();
                prop_assert_eq!(rank, nearest);
            }
        }
    }
}

//! One show's state laid out as the Redis engine keeps it: what a rebuild writes with
//! plain commands and a repair hands to `replace.lua` in one atomic step.
use super::encode;
use super::scripts::ShowKeys;
use crate::inventory::local::ShowState;
use boxoffice_domain::stock::Taken;
use boxoffice_domain::BookingId;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default, Serialize)]
pub(super) struct ShowImage {
    /// Flat field/value pairs of the zones hash.
    zones: Vec<String>,
    buyers: Vec<String>,
    records: Vec<String>,
    /// Flat score/member pairs of the deadlines.
    deadlines: Vec<String>,
    seats: Option<String>,
    /// `,zone,zone,`: the zones sold by seat.
    seated: String,
}

impl ShowImage {
    pub fn of(s: &ShowState) -> Self {
        let mut image = Self::default();
        for (z, c) in &s.zones {
            for (field, value) in [("c", c.capacity), ("h", c.held), ("s", c.sold)] {
                image.zones.push(format!("{z}:{field}"));
                image.zones.push(value.to_string());
            }
        }
        for (b, n) in &s.buyers {
            image.buyers.push(b.to_string());
            image.buyers.push(n.to_string());
        }
        let orders: HashMap<BookingId, &Vec<Taken>> =
            s.orders.iter().map(|(b, t)| (*b, t)).collect();
        for h in &s.holds {
            let items = orders.get(&h.booking).map_or_else(
                || {
                    encode(&[Taken {
                        zone: h.zone,
                        quantity: h.quantity,
                        seats: Vec::new(),
                    }])
                },
                |t| encode(t),
            );
            image.records.push(h.booking.to_string());
            image
                .records
                .push(format!("H|{}|{}|{items}", h.buyer, h.expires_at.millis()));
            image.deadlines.push(h.expires_at.millis().to_string());
            image.deadlines.push(h.booking.to_string());
        }
        let held: HashSet<BookingId> = s.holds.iter().map(|h| h.booking).collect();
        for (booking, taken) in &s.orders {
            if !held.contains(booking) {
                // Sold: a refund names its buyer; the record keeps what it took.
                image.records.push(booking.to_string());
                image.records.push(format!("S|-|0|{}", encode(taken)));
            }
        }
        image.seats = s.seats.as_deref().map(super::encode_seats);
        image.seated = s
            .seated
            .iter()
            .fold(",".to_owned(), |acc, z| format!("{acc}{z},"));
        image
    }

    /// Adds the commands that write this image (over nothing) to `pipe`.
    pub fn write(&self, keys: &ShowKeys, pipe: &mut redis::Pipeline) {
        pipe.hset_multiple(
            &keys.meta,
            &[("ver", "0"), ("ops", "0"), ("seated", &self.seated)],
        )
        .ignore();
        for (key, flat) in [
            (&keys.zones, &self.zones),
            (&keys.buyers, &self.buyers),
            (&keys.records, &self.records),
        ] {
            if !flat.is_empty() {
                pipe.cmd("HSET").arg(key).arg(flat).ignore();
            }
        }
        if !self.deadlines.is_empty() {
            pipe.cmd("ZADD")
                .arg(&keys.deadlines)
                .arg(&self.deadlines)
                .ignore();
        }
        if let Some(seats) = &self.seats {
            pipe.set(&keys.seats, seats).ignore();
        }
    }
}

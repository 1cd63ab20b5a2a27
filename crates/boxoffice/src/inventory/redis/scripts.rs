//! The Lua scripts of the Redis engine, each one atomic step of the inventory rules,
//! and the keys they touch. Scripts are called by `EVALSHA` and loaded again when
//! Redis answers `NOSCRIPT` (after a restart or `SCRIPT FLUSH`).
use boxoffice_domain::ShowId;
use redis::Script;

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

pub(super) struct Scripts {
    pub reserve: Script,
    pub settle: Script,
    pub capacity: Script,
    pub remove: Script,
    pub seating: Script,
    pub counts: Script,
    pub seats: Script,
    pub replace: Script,
}

impl Scripts {
    pub fn new() -> Self {
        Self {
            reserve: script(include_str!("lua/reserve.lua")),
            settle: script(include_str!("lua/settle.lua")),
            capacity: script(include_str!("lua/capacity.lua")),
            remove: script(include_str!("lua/remove.lua")),
            seating: script(include_str!("lua/seating.lua")),
            counts: script(include_str!("lua/counts.lua")),
            seats: script(include_str!("lua/seats.lua")),
            replace: script(include_str!("lua/replace.lua")),
        }
    }

    pub fn all(&self) -> [&Script; 8] {
        [
            &self.reserve,
            &self.settle,
            &self.capacity,
            &self.remove,
            &self.seating,
            &self.counts,
            &self.seats,
            &self.replace,
        ]
    }
}

/// Every key shares its show's hash tag, so Redis Cluster keeps a show on one slot.
pub(super) struct ShowKeys {
    /// Hash: `<zone>:c`, `<zone>:h`, `<zone>:s` (capacity, held, sold).
    pub zones: String,
    /// Hash: buyer → tickets held or owned.
    pub buyers: String,
    /// Sorted set: booking → deadline (ms).
    pub deadlines: String,
    /// Hash: booking → `STATE|buyer|expires|items`.
    pub records: String,
    /// String: one byte per seat (`F`, `H`, `S`, `B`).
    pub seats: String,
    /// Hash: `ver` (seat states), `ops` (mutations); its presence marks a known show.
    pub meta: String,
}

impl ShowKeys {
    pub fn of(show: ShowId) -> Self {
        let key = |suffix: &str| format!("{PREFIX}{{show:{show}}}:{suffix}");
        Self {
            zones: key("z"),
            buyers: key("b"),
            deadlines: key("d"),
            records: key("o"),
            seats: key("s"),
            meta: key("m"),
        }
    }

    /// The order the scripts that change holds expect.
    pub fn all(&self) -> [&str; 6] {
        [
            &self.zones,
            &self.buyers,
            &self.deadlines,
            &self.records,
            &self.seats,
            &self.meta,
        ]
    }
}

pub(super) const PREFIX: &str = "bo:";
/// Set of every show id the engine holds.
pub(super) const SHOWS: &str = "bo:shows";
/// Written last by a rebuild: when it is missing or changed, Redis lost (or another
/// node replaced) the state this node knew.
pub(super) const EPOCH: &str = "bo:epoch";
/// Hash: node → its last announcement (ms, Redis's clock).
pub(super) const NODES: &str = "bo:nodes";
/// Held by the node rebuilding a lost inventory.
pub(super) const REBUILDING: &str = "bo:rebuilding";

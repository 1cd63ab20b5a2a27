//! One show's waiting room in memory: settings, places, passes and figures, changed
//! only by applying entries of its log, in the log's order, under its lock. A node's
//! copy is thus a replica: the same log gives the same places and passes anywhere.
use super::engine::QueueEngine;
use crate::signing::Keyring;
use crate::store::queue::{QueueLogKind, QueueLogRecord, QueueSettingsRecord};
use boxoffice_domain::queue::{lottery_draw, seeded_shuffle, QueueMethod};
use boxoffice_domain::{ShowId, Timestamp, UserId};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// Scores of places taken after opening start here, behind every pre-queue place
/// (whose scores are their drawn rank, or their join number before the draw).
pub(super) const AFTER_OPENING: u64 = 1 << 40;
/// The window over which the admission rate is measured.
pub(super) const RATE_WINDOW_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PlaceStatus {
    Waiting,
    Admitted,
    Lost,
    Left,
}

impl PlaceStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            PlaceStatus::Waiting => "waiting",
            PlaceStatus::Admitted => "admitted",
            PlaceStatus::Lost => "lost",
            PlaceStatus::Left => "left",
        }
    }
}

pub(super) struct Place {
    pub id: Uuid,
    pub joined_at: Timestamp,
    pub pre_queue: bool,
    pub status: PlaceStatus,
    pub pass: Option<Uuid>,
    /// Status requests before this instant (ms) are too early.
    pub next_poll_ms: i64,
    /// Consecutive early requests: each doubles the wait imposed.
    pub strikes: u32,
}

pub(super) struct PassEntry {
    pub user: UserId,
    pub expires: Timestamp,
    pub token: String,
    pub used: bool,
    /// Presented to a reserve that has not answered yet.
    pub in_use: bool,
    pub revoked: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counters {
    pub joined: u64,
    pub admitted: u64,
    pub left: u64,
    pub lost: u64,
    pub used: u64,
    pub expired: u64,
    pub revoked: u64,
    pub early_polls: u64,
    pub wait_ms_total: u64,
    pub wait_ms_max: u64,
}

/// The result of the draw, kept for the published record.
pub(super) struct Draw {
    pub at: Timestamp,
    pub entrants: Vec<Uuid>,
    pub order: Vec<Uuid>,
    pub winners: Option<u64>,
}

/// What applying one log entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Applied {
    /// The entry changed the queue.
    Done,
    /// It was done before (a second join, draw, use or revocation).
    Already,
    /// The place or pass is not in a state the entry applies to.
    Refused(Refusal),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    NoPlace,
    NoPass,
    Status(PlaceStatus),
    PassUsed,
    Incomplete,
}

pub(super) struct QueueData {
    pub show: ShowId,
    pub settings: QueueSettingsRecord,
    pub next_seq: u64,
    /// Places ever taken: the join number that scores FIFO order.
    pub joins: u64,
    pub places: HashMap<UserId, Place>,
    /// Pre-queue places in join order: the draw's input.
    pub entrants: Vec<UserId>,
    pub passes: HashMap<Uuid, PassEntry>,
    /// Issued passes by expiry, to count those that lapse unused.
    pub live: VecDeque<(Timestamp, Uuid)>,
    pub pace: boxoffice_domain::queue::Pace,
    pub last_tick_ms: i64,
    /// Admission instants (ms) within the rate window.
    pub recent: VecDeque<i64>,
    pub counters: Counters,
    pub draw: Option<Draw>,
    /// The open event streams of each buyer, woken when that buyer's place changes
    /// for a reason of its own (admitted, left, pass revoked).
    pub followers: HashMap<UserId, Vec<Arc<Notify>>>,
}

impl QueueData {
    pub(super) fn new(settings: QueueSettingsRecord) -> Self {
        Self {
            show: settings.show_id,
            settings,
            next_seq: 1,
            joins: 0,
            places: HashMap::new(),
            entrants: Vec::new(),
            passes: HashMap::new(),
            live: VecDeque::new(),
            pace: Default::default(),
            last_tick_ms: 0,
            recent: VecDeque::new(),
            counters: Counters::default(),
            draw: None,
            followers: HashMap::new(),
        }
    }

    /// Wakes the event streams of `user` (each keeps the wake-up until it looks).
    pub(super) fn wake(&self, user: UserId) {
        for n in self.followers.get(&user).into_iter().flatten() {
            n.notify_one();
        }
    }

    /// Applies one entry of the log: the only way a queue changes, live or replayed.
    /// Every copy of a queue applies the same entries in the same order, so each
    /// decides the same: a second join is a no-op, an admission of a buyer who left
    /// first is refused, and so on.
    pub(super) fn apply(
        &mut self,
        keys: &Keyring,
        engine: &dyn QueueEngine,
        e: &QueueLogRecord,
    ) -> Applied {
        match (e.kind, e.user_id, e.ref_id) {
            (QueueLogKind::PreJoin | QueueLogKind::Join, Some(user), Some(place)) => {
                if self.places.contains_key(&user) {
                    return Applied::Already;
                }
                // A pre-queue place ordered after the draw queues behind it.
                let pre_queue = e.kind == QueueLogKind::PreJoin && self.draw.is_none();
                self.take_place(engine, user, place, e.at, pre_queue);
                Applied::Done
            }
            (QueueLogKind::Draw, _, _) => {
                if self.draw.is_some() {
                    return Applied::Already;
                }
                self.draw(engine, e.at);
                Applied::Done
            }
            (QueueLogKind::Admit, Some(user), Some(jti)) => {
                match self.places.get(&user).map(|p| p.status) {
                    Some(PlaceStatus::Waiting) => {}
                    Some(other) => return Applied::Refused(Refusal::Status(other)),
                    None => return Applied::Refused(Refusal::NoPlace),
                }
                engine.remove(self.show, user);
                self.admit(keys, user, jti, e.at, e.until.unwrap_or(e.at));
                Applied::Done
            }
            (QueueLogKind::Use, _, Some(jti)) => match self.passes.get_mut(&jti) {
                Some(p) if p.used => Applied::Already,
                Some(p) => {
                    p.used = true;
                    self.counters.used += 1;
                    Applied::Done
                }
                None => Applied::Refused(Refusal::NoPass),
            },
            (QueueLogKind::Leave, Some(user), _) => {
                let Some(place) = self.places.get(&user) else {
                    return Applied::Refused(Refusal::NoPlace);
                };
                let (status, pass) = (place.status, place.pass);
                match status {
                    PlaceStatus::Waiting => {
                        engine.remove(self.show, user);
                    }
                    PlaceStatus::Admitted => {
                        if let Some(p) = pass.and_then(|j| self.passes.get_mut(&j)) {
                            if p.used {
                                return Applied::Refused(Refusal::PassUsed);
                            }
                            p.revoked = true;
                        }
                    }
                    other => return Applied::Refused(Refusal::Status(other)),
                }
                if let Some(place) = self.places.get_mut(&user) {
                    place.status = PlaceStatus::Left;
                }
                self.counters.left += 1;
                Applied::Done
            }
            (QueueLogKind::Revoke, _, Some(jti)) => match self.passes.get_mut(&jti) {
                Some(p) if p.revoked => Applied::Already,
                Some(p) => {
                    p.revoked = true;
                    self.counters.revoked += 1;
                    Applied::Done
                }
                None => Applied::Refused(Refusal::NoPass),
            },
            _ => {
                tracing::warn!(
                    seq = e.seq,
                    kind = e.kind.as_str(),
                    "queue log entry skipped: incomplete"
                );
                Applied::Refused(Refusal::Incomplete)
            }
        }
    }

    /// Takes a place for `user`; its score in the engine.
    pub(super) fn take_place(
        &mut self,
        engine: &dyn QueueEngine,
        user: UserId,
        place: Uuid,
        at: Timestamp,
        pre_queue: bool,
    ) {
        let score = if pre_queue {
            self.entrants.push(user);
            self.joins
        } else {
            AFTER_OPENING + self.joins
        };
        self.joins += 1;
        engine.add(self.show, user, score);
        self.places.insert(
            user,
            Place {
                id: place,
                joined_at: at,
                pre_queue,
                status: PlaceStatus::Waiting,
                pass: None,
                next_poll_ms: 0,
                strikes: 0,
            },
        );
        self.counters.joined += 1;
    }

    /// Admits `user` with the pass `jti` valid until `expires`.
    pub(super) fn admit(
        &mut self,
        keys: &Keyring,
        user: UserId,
        jti: Uuid,
        at: Timestamp,
        expires: Timestamp,
    ) {
        let token = super::pass::issue(keys, self.show, user, jti, at, expires);
        if let Some(place) = self.places.get_mut(&user) {
            place.status = PlaceStatus::Admitted;
            place.pass = Some(jti);
            let waited = u64::try_from(at.millis() - place.joined_at.millis()).unwrap_or(0);
            self.counters.wait_ms_total += waited;
            self.counters.wait_ms_max = self.counters.wait_ms_max.max(waited);
        }
        self.passes.insert(
            jti,
            PassEntry {
                user,
                expires,
                token,
                used: false,
                in_use: false,
                revoked: false,
            },
        );
        self.live.push_back((expires, jti));
        self.recent.push_back(at.millis());
        self.counters.admitted += 1;
    }

    /// The draw at opening: shuffles the pre-queue places still waiting with the
    /// seed; a lottery keeps the winners and tells the others they lost.
    pub(super) fn draw(&mut self, engine: &dyn QueueEngine, at: Timestamp) {
        let waiting: Vec<UserId> = self
            .entrants
            .iter()
            .copied()
            .filter(|u| self.places.get(u).map(|p| p.status) == Some(PlaceStatus::Waiting))
            .collect();
        let place_of = |u: &UserId| self.places[u].id;
        let entrants: Vec<Uuid> = waiting.iter().map(place_of).collect();
        let (order, winners) = if self.settings.method == QueueMethod::Lottery {
            let n = usize::try_from(self.settings.lottery_winners).unwrap_or(usize::MAX);
            let (won, lost) = lottery_draw(&waiting, n, &self.settings.seed);
            for u in &lost {
                engine.remove(self.show, *u);
                if let Some(p) = self.places.get_mut(u) {
                    p.status = PlaceStatus::Lost;
                }
                self.counters.lost += 1;
            }
            let count = won.len() as u64;
            (won.into_iter().chain(lost).collect::<Vec<_>>(), Some(count))
        } else {
            let mut order = waiting.clone();
            seeded_shuffle(&mut order, &self.settings.seed);
            (order, None)
        };
        let scores: Vec<(UserId, u64)> = order
            .iter()
            .enumerate()
            .map(|(rank, u)| (*u, rank as u64))
            .collect();
        engine.rescore(self.show, &scores);
        self.settings.drawn_at = Some(at);
        self.draw = Some(Draw {
            at,
            entrants,
            order: order.iter().map(|u| self.places[u].id).collect(),
            winners,
        });
    }

    /// Passes issued and still able to admit.
    pub(super) fn active_passes(&self, now: Timestamp) -> u64 {
        self.live
            .iter()
            .filter(|(exp, jti)| {
                *exp > now && self.passes.get(jti).is_some_and(|p| !p.used && !p.revoked)
            })
            .count() as u64
    }

    /// Counts passes that lapsed unused, and forgets admissions older than the rate
    /// window.
    pub(super) fn sweep(&mut self, now: Timestamp) {
        while let Some((exp, jti)) = self.live.front().copied() {
            if exp > now {
                break;
            }
            self.live.pop_front();
            if self.passes.get(&jti).is_some_and(|p| !p.used && !p.revoked) {
                self.counters.expired += 1;
            }
        }
        while self
            .recent
            .front()
            .is_some_and(|t| *t <= now.millis() - RATE_WINDOW_MS)
        {
            self.recent.pop_front();
        }
    }

    /// Admissions a second, measured over the rate window (or since opening).
    pub(super) fn measured_rate(&self, now: Timestamp) -> f64 {
        let since_open = now.millis() - self.settings.opens_at.millis();
        let window = since_open.clamp(1_000, RATE_WINDOW_MS) as f64 / 1000.0;
        // Instants are in order: a binary search, not a walk over a minute of
        // admissions (120,000 at 2,000/s) on every view of a place.
        let cutoff = now.millis() - RATE_WINDOW_MS;
        let within = self.recent.len() - self.recent.partition_point(|t| *t <= cutoff);
        within as f64 / window
    }
}

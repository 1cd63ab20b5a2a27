//! Waiting-room use cases: settings and their steering by the show's organizer, a
//! buyer's join, status and departure, and the pass check in front of reserve.
use super::config::QueueConfig;
use super::engine::DynQueueEngine;
use super::pass::{self, PassError};
use super::sequencer::DynSequencer;
use super::state::{Applied, PlaceStatus, QueueData, Refusal};
use super::views::*;
use crate::accounts::Principal;
use crate::catalog::ShowCache;
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, Result};
use crate::inventory::DynInventory;
use crate::organizations::Access;
use crate::signing::Keyring;
use crate::store::queue::{DynQueueStore, QueueLogKind, QueueLogRecord};
use crate::store::DynStore;
use crate::timefmt::rfc3339;
use boxoffice_domain::organization::Permission;
use boxoffice_domain::queue::{
    look_again_after_ms, seed_commitment, JoinRefusal, JoinWindow, QueueMethod,
};
use boxoffice_domain::{ShowId, Timestamp, UserId};
use governor::state::keyed::DefaultKeyedStateStore;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

type JoinLimiter =
    governor::RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, governor::clock::DefaultClock>;

/// The longest a waiting buyer is asked to wait between polls (far back in a long
/// line; near the front it is `queue.poll_interval_secs`).
const MAX_POLL_MS: u64 = 30_000;

/// One show's queue: its data under a lock, and a signal for SSE streams.
pub(super) struct ShowQueue {
    pub data: Mutex<QueueData>,
    /// Bumped when every place may look different: settings and state changes, the draw.
    pub changed: watch::Sender<u64>,
}

impl ShowQueue {
    pub(super) fn new(data: QueueData) -> Self {
        Self {
            data: Mutex::new(data),
            changed: watch::Sender::new(0),
        }
    }

    pub(super) fn bump(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    pub(super) fn show(&self) -> ShowId {
        self.data.lock().show
    }

    /// Wakes whom applied entries concern: a buyer admitted, gone or whose pass was
    /// revoked hears at once; a draw reorders everyone. Those still waiting see the
    /// line move at their own pace.
    pub(super) fn announce(&self, entries: &[QueueLogRecord], applied: &[Applied]) {
        let mut drew = false;
        {
            let d = self.data.lock();
            for (e, a) in entries.iter().zip(applied) {
                if *a != Applied::Done {
                    continue;
                }
                match (e.kind, e.user_id) {
                    (QueueLogKind::Admit | QueueLogKind::Leave | QueueLogKind::Revoke, Some(u)) => {
                        d.wake(u)
                    }
                    (QueueLogKind::Draw, _) => drew = true,
                    _ => {}
                }
            }
        }
        if drew {
            self.bump();
        }
    }
}

/// An open event stream's registration: what wakes it; dropping it unregisters.
pub(super) struct Following {
    queue: Arc<ShowQueue>,
    user: UserId,
    pub own: Arc<Notify>,
    pub changed: watch::Receiver<u64>,
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut d = self.queue.data.lock();
        if let Some(list) = d.followers.get_mut(&self.user) {
            list.retain(|n| !Arc::ptr_eq(n, &self.own));
            if list.is_empty() {
                d.followers.remove(&self.user);
            }
        }
    }
}

/// A pass presented to reserve and held for it; settle it with the outcome.
pub struct ClaimedPass {
    show: ShowId,
    jti: Uuid,
}

pub struct QueueService {
    pub(super) store: DynQueueStore,
    accounts: DynStore,
    pub(super) engine: DynQueueEngine,
    pub(super) sequencer: DynSequencer,
    keys: Arc<Keyring>,
    pub(super) clock: DynClock,
    access: Arc<Access>,
    cache: Arc<ShowCache>,
    pub(super) inventory: DynInventory,
    pub(super) config: QueueConfig,
    pub(super) queues: RwLock<HashMap<ShowId, Arc<ShowQueue>>>,
    joins_per_ip: Option<JoinLimiter>,
    /// When a missing queue last sent this node to the store (see `know`).
    pub(super) looked: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// Held while a queue is created and opened, so a show has one queue object (the
    /// one its log's follower applies to).
    pub(super) opening: tokio::sync::Mutex<()>,
}

/// Whether a join took a new place.
pub struct Joined {
    pub place: PlaceView,
    pub created: bool,
}

impl QueueService {
    /// The service over `parts`, with the engine that orders places and the
    /// sequencer that orders changes.
    pub(super) fn from_parts(
        d: super::QueueParts,
        engine: DynQueueEngine,
        sequencer: DynSequencer,
    ) -> Self {
        let joins_per_ip = NonZeroU32::new(d.config.joins_per_ip_per_minute)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n).allow_burst(n)));
        Self {
            store: d.store,
            accounts: d.accounts,
            engine,
            sequencer,
            keys: d.keys,
            clock: d.clock,
            access: d.access,
            cache: d.cache,
            inventory: d.inventory,
            config: d.config,
            queues: RwLock::new(HashMap::new()),
            joins_per_ip,
            looked: tokio::sync::Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn queue(&self, show: ShowId) -> Result<Arc<ShowQueue>> {
        self.queues
            .read()
            .get(&show)
            .cloned()
            .ok_or(Error::NotFound("queue"))
    }

    /// Every queue's `(show, waiting, joined, admitted)`, for metrics.
    pub fn figures(&self) -> Vec<(ShowId, u64, u64, u64)> {
        self.queues
            .read()
            .iter()
            .map(|(show, queue)| {
                let c = queue.data.lock().counters;
                (*show, self.engine.len(*show), c.joined, c.admitted)
            })
            .collect()
    }

    pub(super) fn all(&self) -> Vec<Arc<ShowQueue>> {
        self.queues.read().values().cloned().collect()
    }

    pub(super) async fn require(
        &self,
        who: &Principal,
        show: ShowId,
        what: Permission,
    ) -> Result<()> {
        let meta = self.cache.get(show).ok_or(Error::NotFound("show"))?;
        self.access.require(who, meta.organization_id, what).await
    }

    /// Takes a place for the caller, or finds the one it has (one per account).
    #[tracing::instrument(name = "queue.join", skip_all, fields(show = %show))]
    pub async fn join(&self, who: &Principal, show: ShowId, ip: IpAddr) -> Result<Joined> {
        self.know(show).await;
        let queue = self.queue(show)?;
        if let Some(place) = self.existing(&queue, who.user) {
            return Ok(Joined {
                place,
                created: false,
            });
        }
        if let Some(limiter) = &self.joins_per_ip {
            if let Err(not_until) = limiter.check_key(&ip) {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                return Err(Error::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                });
            }
        }
        if queue.data.lock().settings.verified_only {
            let user = self.accounts.user(who.user).await?;
            if user.email_verified_at.is_none() {
                return Err(Error::Forbidden(
                    "this queue takes accounts with a verified email only (POST /api/v1/auth/verify-email/request)",
                ));
            }
        }
        let now = self.clock.now();
        let (kind, passthrough, ttl) = {
            let d = queue.data.lock();
            let s = &d.settings;
            let window = JoinWindow {
                method: s.method,
                state: s.state,
                opens_at_ms: s.opens_at.millis(),
                pre_queue_ms: i64::from(s.pre_queue_secs) * 1000,
                drawn: s.drawn_at.is_some(),
                max_size: s.max_size,
            };
            let pre_queue = window
                .check(now.millis(), self.engine.len(show))
                .map_err(refusal)?;
            let kind = if pre_queue {
                QueueLogKind::PreJoin
            } else {
                QueueLogKind::Join
            };
            (
                kind,
                s.method == QueueMethod::Passthrough,
                i64::from(s.pass_ttl_secs),
            )
        };
        let mut entries = vec![entry(show, kind, Some(who.user), Some(Uuid::now_v7()), now)];
        if passthrough {
            entries.push(admission(show, who.user, now, ttl));
        }
        let applied = self.sequencer.submit(&queue, entries).await?;
        // A place at the back moves nobody: no stream is woken for it.
        let place = self
            .existing(&queue, who.user)
            .ok_or(Error::NotFound("place"))?;
        Ok(Joined {
            place,
            created: applied.first() == Some(&Applied::Done),
        })
    }

    fn existing(&self, queue: &ShowQueue, user: UserId) -> Option<PlaceView> {
        self.view_if_placed(&mut queue.data.lock(), user)
    }

    /// The place of `user` as it looks now, if it has one (under the show's lock).
    fn view_if_placed(&self, d: &mut QueueData, user: UserId) -> Option<PlaceView> {
        d.places
            .contains_key(&user)
            .then(|| self.place_view(d, user, self.clock.now(), false))
    }

    /// The caller's place. Asking before `poll_after_secs` has passed is 429 and
    /// each such request doubles the wait imposed; the place never moves for it.
    pub fn status(&self, who: &Principal, show: ShowId) -> Result<PlaceView> {
        let queue = self.queue(show)?;
        let mut d = queue.data.lock();
        let now = self.clock.now();
        let interval_ms = i64::from(self.config.poll_interval_secs) * 1000;
        let place = d
            .places
            .get_mut(&who.user)
            .ok_or(Error::NotFound("place"))?;
        // A fifth of the interval of leeway for clocks and networks.
        if now.millis() < place.next_poll_ms - interval_ms / 5 {
            place.strikes = (place.strikes + 1).min(6);
            let wait_ms = interval_ms << place.strikes;
            place.next_poll_ms = now.millis() + wait_ms;
            d.counters.early_polls += 1;
            return Err(Error::RateLimited {
                retry_after_secs: u64::try_from(wait_ms / 1000).unwrap_or(1).max(1),
            });
        }
        place.strikes = 0;
        Ok(self.place_view(&mut d, who.user, now, true))
    }

    /// The place of `user` (which must have one); `polled` starts its next interval.
    pub(super) fn place_view(
        &self,
        d: &mut QueueData,
        user: UserId,
        now: Timestamp,
        polled: bool,
    ) -> PlaceView {
        let show = d.show;
        let rate = d.measured_rate(now);
        let configured = d.settings.rate_per_sec;
        let waiting = self.engine.len(show);
        let (opens_at, state) = (d.settings.opens_at, d.settings.state);
        let place = &d.places[&user];
        let ahead = (place.status == PlaceStatus::Waiting)
            .then(|| self.engine.rank(show, user))
            .flatten();
        let pass = place.pass.and_then(|j| d.passes.get(&j));
        let estimated = ahead.and_then(|a| {
            let per_sec = if rate > 0.0 {
                rate
            } else {
                f64::from(configured)
            };
            (per_sec > 0.0).then(|| {
                let until_open = (opens_at.millis() - now.millis()).max(0) / 1000;
                (a as f64 / per_sec).ceil() as u64 + until_open as u64
            })
        });
        let poll_after = match place.status {
            PlaceStatus::Waiting => {
                let base_ms = u64::from(self.config.poll_interval_secs) * 1000;
                look_again_after_ms(base_ms, estimated, MAX_POLL_MS).div_ceil(1000)
            }
            _ => 0,
        };
        let view = PlaceView {
            show_id: show,
            place_id: place.id,
            status: place.status.as_str().into(),
            queue_state: state.as_str().into(),
            position: ahead.map(|a| a + 1),
            ahead,
            waiting,
            estimated_wait_secs: estimated,
            poll_after_secs: poll_after,
            pre_queue: place.pre_queue,
            joined_at: rfc3339(place.joined_at),
            opens_at: rfc3339(opens_at),
            pass: pass.filter(|p| !p.revoked).map(|p| p.token.clone()),
            pass_expires_at: pass.map(|p| rfc3339(p.expires)),
        };
        if polled {
            if let Some(p) = d.places.get_mut(&user) {
                p.next_poll_ms = now.millis() + i64::try_from(poll_after * 1000).unwrap_or(0);
            }
        }
        view
    }

    /// Gives up the caller's place (or unused pass), freeing it for the next.
    pub async fn leave(&self, who: &Principal, show: ShowId) -> Result<PlaceView> {
        self.know(show).await;
        let queue = self.queue(show)?;
        {
            let d = queue.data.lock();
            let place = d.places.get(&who.user).ok_or(Error::NotFound("place"))?;
            // A reserve on this node holds the pass: it is being used.
            if let Some(p) = place.pass.and_then(|j| d.passes.get(&j)) {
                if p.in_use {
                    return Err(refused(Refusal::PassUsed));
                }
            }
        }
        let now = self.clock.now();
        let leave = entry(show, QueueLogKind::Leave, Some(who.user), None, now);
        if let [Applied::Refused(r)] = self.sequencer.submit(&queue, vec![leave]).await?[..] {
            return Err(refused(r));
        }
        self.existing(&queue, who.user)
            .ok_or(Error::NotFound("place"))
    }

    /// Revokes a pass (the show's organizer); reserve refuses it from now on.
    pub async fn revoke(&self, who: &Principal, show: ShowId, jti: Uuid) -> Result<()> {
        self.know(show).await;
        self.require(who, show, Permission::ManageCatalog).await?;
        let queue = self.queue(show)?;
        let user = {
            let d = queue.data.lock();
            let pass = d.passes.get(&jti).ok_or(Error::NotFound("pass"))?;
            if pass.revoked {
                return Ok(());
            }
            pass.user
        };
        let revoke = entry(
            show,
            QueueLogKind::Revoke,
            Some(user),
            Some(jti),
            self.clock.now(),
        );
        self.sequencer.submit(&queue, vec![revoke]).await?;
        Ok(())
    }

    /// Checks `X-Queue-Pass` for a reserve on `show` by `who`: nothing to check when
    /// the show has no queue (or a passthrough one); otherwise the pass must verify and
    /// be this caller's, for this show, unexpired, unrevoked and unused. The pass is
    /// held until [`QueueService::settle`] says how the reserve went.
    pub async fn claim(
        &self,
        who: &Principal,
        show: ShowId,
        header: Option<&str>,
    ) -> Result<Option<ClaimedPass>> {
        let Some(queue) = self.queues.read().get(&show).cloned() else {
            return Ok(None);
        };
        if queue.data.lock().settings.method == QueueMethod::Passthrough {
            return Ok(None);
        }
        let refuse = |e: PassError| Error::QueuePass(e.to_string());
        let token = header.ok_or_else(|| refuse(PassError::Missing))?;
        let claims =
            pass::verify(&self.keys, token, show, who.user, self.clock.now()).map_err(refuse)?;
        let ttl = {
            let mut d = queue.data.lock();
            let entry = d
                .passes
                .get_mut(&claims.jti)
                .ok_or_else(|| refuse(PassError::Unknown))?;
            if entry.revoked {
                return Err(refuse(PassError::Revoked));
            }
            if entry.used || entry.in_use {
                return Err(refuse(PassError::Used));
            }
            entry.in_use = true;
            entry.expires.millis() - self.clock.now().millis()
        };
        // Held on this node; other nodes may hold it too until their copy hears of
        // a use: the shared hold decides.
        let ttl = std::time::Duration::from_millis(u64::try_from(ttl).unwrap_or(0));
        let held = self.sequencer.hold_pass(show, claims.jti, ttl).await;
        if !matches!(held, Ok(true)) {
            if let Some(p) = queue.data.lock().passes.get_mut(&claims.jti) {
                p.in_use = false;
            }
            held?;
            return Err(refuse(PassError::Used));
        }
        Ok(Some(ClaimedPass {
            show,
            jti: claims.jti,
        }))
    }

    /// A reserve through the waiting room: the pass (`X-Queue-Pass`, or the web page's
    /// field) is claimed before inventory is touched, then settled with the outcome.
    /// Shows without a queue reserve directly.
    pub async fn reserve_through(
        &self,
        booking: &crate::booking::BookingService,
        who: Principal,
        request: crate::booking::ReserveRequest,
        pass: Option<&str>,
    ) -> Result<crate::booking::BookingView> {
        let show = request.show_id;
        let claimed = self
            .claim(&who, show, pass)
            .await
            .inspect_err(|e| booking.count(show, Err(e)))?;
        let reserved = booking.reserve(who, request).await;
        if let Some(claimed) = claimed {
            self.settle(claimed, reserved.is_ok()).await;
        }
        reserved
    }

    /// Marks a held pass used when its reserve succeeded (durably), or frees it again.
    pub async fn settle(&self, claimed: ClaimedPass, reserved: bool) {
        let Ok(queue) = self.queue(claimed.show) else {
            return;
        };
        let user = {
            let mut d = queue.data.lock();
            let Some(entry) = d.passes.get_mut(&claimed.jti) else {
                return;
            };
            entry.in_use = false;
            entry.user
        };
        if !reserved {
            self.sequencer.release_pass(claimed.show, claimed.jti).await;
            return;
        }
        let used = entry(
            claimed.show,
            QueueLogKind::Use,
            Some(user),
            Some(claimed.jti),
            self.clock.now(),
        );
        if let Err(e) = self.sequencer.submit(&queue, vec![used]).await {
            tracing::warn!(error = %e, "a used queue pass was not recorded");
        }
    }

    /// The published draw of a queue, once made.
    pub fn draw(&self, show: ShowId) -> Result<DrawView> {
        let queue = self.queue(show)?;
        let d = queue.data.lock();
        let draw = d.draw.as_ref().ok_or_else(|| {
            Error::conflict(
                ConflictKind::InvalidState,
                "the draw is made at opening; this queue has not drawn",
            )
        })?;
        Ok(DrawView {
            show_id: show,
            method: d.settings.method.as_str().into(),
            seed: hex::encode(d.settings.seed),
            seed_commitment: seed_commitment(&d.settings.seed),
            drawn_at: rfc3339(draw.at),
            entrants: draw.entrants.clone(),
            order: draw.order.clone(),
            winners: draw.winners,
        })
    }

    /// The organizer's figures.
    pub async fn stats(&self, who: &Principal, show: ShowId) -> Result<QueueStats> {
        self.know(show).await;
        self.require(who, show, Permission::ViewSales).await?;
        let queue = self.queue(show)?;
        let now = self.clock.now();
        let mut d = queue.data.lock();
        d.sweep(now);
        let c = d.counters;
        let active = d.active_passes(now);
        Ok(QueueStats {
            show_id: show,
            state: d.settings.state.as_str().into(),
            waiting: self.engine.len(show),
            joined: c.joined,
            admitted: c.admitted,
            left: c.left,
            lost: c.lost,
            abandoned: c.left + c.expired,
            passes: PassFigures {
                issued: c.admitted,
                active,
                used: c.used,
                expired: c.expired,
                revoked: c.revoked,
            },
            admission_rate_per_sec: d.measured_rate(now),
            configured_rate_per_sec: (d.settings.rate_per_sec > 0)
                .then_some(d.settings.rate_per_sec),
            avg_wait_secs: if c.admitted == 0 {
                0.0
            } else {
                c.wait_ms_total as f64 / c.admitted as f64 / 1000.0
            },
            max_wait_secs: c.wait_ms_max as f64 / 1000.0,
            early_polls: c.early_polls,
        })
    }

    /// Follows the caller's place: its first view, the show's signal (settings
    /// changes, the draw) and a wake-up of the caller's own, given up when the
    /// returned [`Following`] is dropped.
    pub(super) fn follow(&self, who: &Principal, show: ShowId) -> Result<(PlaceView, Following)> {
        let queue = self.queue(show)?;
        let mut d = queue.data.lock();
        let view = self
            .view_if_placed(&mut d, who.user)
            .ok_or(Error::NotFound("place"))?;
        let own = Arc::new(Notify::new());
        d.followers.entry(who.user).or_default().push(own.clone());
        let changed = queue.changed.subscribe();
        drop(d);
        Ok((
            view,
            Following {
                queue,
                user: who.user,
                own,
                changed,
            },
        ))
    }

    pub(crate) fn snapshot(&self, who: &Principal, show: ShowId) -> Result<PlaceView> {
        self.existing(&*self.queue(show)?, who.user)
            .ok_or(Error::NotFound("place"))
    }
}

/// A log entry to submit (the sequencer numbers it).
pub(super) fn entry(
    show: ShowId,
    kind: QueueLogKind,
    user: Option<UserId>,
    ref_id: Option<Uuid>,
    at: Timestamp,
) -> QueueLogRecord {
    QueueLogRecord {
        show_id: show,
        seq: 0,
        kind,
        user_id: user,
        ref_id,
        at,
        until: None,
    }
}

/// An admission of `user` with a new pass valid `ttl_secs` from `now`.
pub(super) fn admission(
    show: ShowId,
    user: UserId,
    now: Timestamp,
    ttl_secs: i64,
) -> QueueLogRecord {
    QueueLogRecord {
        until: Some(now.plus_secs(ttl_secs)),
        ..entry(
            show,
            QueueLogKind::Admit,
            Some(user),
            Some(Uuid::now_v7()),
            now,
        )
    }
}

/// Why a leave was refused, as the buyer reads it.
fn refused(r: Refusal) -> Error {
    match r {
        Refusal::NoPlace => Error::NotFound("place"),
        Refusal::NoPass => Error::NotFound("pass"),
        Refusal::PassUsed => {
            Error::conflict(ConflictKind::InvalidState, "this place's pass was used")
        }
        Refusal::Status(status) => Error::conflict(
            ConflictKind::InvalidState,
            format!("this place is {} already", status.as_str()),
        ),
        Refusal::Incomplete => {
            Error::Unavailable("the waiting room could not apply this; retry".into())
        }
    }
}

fn refusal(r: JoinRefusal) -> Error {
    match r {
        JoinRefusal::Full(_) => Error::conflict(ConflictKind::QueueFull, r.to_string()),
        JoinRefusal::NotYet {
            opens_for_joining_ms,
        } => Error::conflict(
            ConflictKind::QueueClosed,
            format!(
                "the queue takes places from {}",
                rfc3339(Timestamp::from_millis(opens_for_joining_ms))
            ),
        ),
        other => Error::conflict(ConflictKind::QueueClosed, other.to_string()),
    }
}

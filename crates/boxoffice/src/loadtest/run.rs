//! The load: closed loop (send on every answer) or open loop (request i is due at
//! t0 + i/R and timed from then, so a slow server cannot hide its queueing).
use super::api::{Api, Show};
use super::args::{Mode, Settings};
use super::client::{Conn, Target};
use super::stats::{self, Stats};
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::http::{HeaderName, HeaderValue};
use hyper::StatusCode;
use indicatif::ProgressBar;
use parking_lot::Mutex;
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub const RESERVE_PATH: &str = "/api/v1/bookings/reserve";
pub const SOLD_OUT: &str = "/problems/sold-out";
pub const LIMIT_REACHED: &str = "/problems/limit-reached";

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long past `--duration` an open loop that fell behind keeps sending.
const OPEN_LOOP_GRACE: Duration = Duration::from_secs(10);
/// The timer wakes on whole milliseconds, late; waking this much before a request is
/// due and sending at once keeps timer lag out of the latency, which then counts
/// from whichever is earlier, the due instant or the actual send.
const TIMER_SLACK: Duration = Duration::from_millis(2);
/// Connections opened at the same time while preparing.
const CONNECT_PARALLEL: usize = 32;
/// How often progress is drawn and the stop conditions are checked.
const TICK: Duration = Duration::from_millis(100);
/// Connection tasks record into this many shared [`Stats`]: histograms are large, so
/// one per connection would cost hundreds of MB with a thousand connections, and the
/// page faults of creating them stall the first second of the run.
const SHARDS: usize = 16;

/// The reserve request bodies.
pub enum Body {
    /// The same request every time.
    Fixed(Bytes),
    /// `quantity` neighbouring seats from a random place of the map each time.
    RandomSeats {
        show_id: String,
        seats: Vec<String>,
        quantity: usize,
    },
}

impl Body {
    pub fn next(&self) -> Bytes {
        match self {
            Body::Fixed(b) => b.clone(),
            Body::RandomSeats {
                show_id,
                seats,
                quantity,
            } => {
                let q = (*quantity).clamp(1, seats.len().max(1));
                let start = rand::random::<usize>() % (seats.len() + 1 - q).max(1);
                let picked = &seats[start..(start + q).min(seats.len())];
                let body = serde_json::json!({"show_id": show_id, "items": [{"seats": picked}]});
                Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
            }
        }
    }
}

/// Everything a connection task needs, shared read-only except for the counters.
pub struct Load {
    pub settings: Settings,
    /// What each reserve request sends.
    pub body: Body,
    /// `Bearer <token>` per buyer.
    pub tokens: Vec<HeaderValue>,
}

/// Live counters, read by the progress display and the stop rules.
struct Shared {
    load: Load,
    /// Reserve requests claimed by a task (the next request number).
    issued: AtomicU64,
    answered: AtomicU64,
    holds: AtomicU64,
    failed: AtomicU64,
    per_buyer: Vec<AtomicU32>,
    limited: Vec<AtomicBool>,
    sold_out_seen: AtomicBool,
    stop: AtomicBool,
    /// Open loop: how many requests to send.
    planned: u64,
    /// Measurements; task `n` records into shard `n % SHARDS`.
    shards: Vec<Mutex<Stats>>,
}

/// What the load produced.
pub struct Outcome {
    pub stats: Stats,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// CPU used by this process meanwhile, when `/proc` tells.
    pub cpu: Option<Duration>,
    /// CPU used by the server's process meanwhile (`--server-pid`).
    pub server_cpu: Option<Duration>,
    /// Successful holds per buyer, by buyer index.
    pub per_buyer: Vec<u32>,
    /// Buyers who were told `limit-reached`.
    pub limited: Vec<bool>,
    pub sold_out_seen: bool,
    /// Open loop: requests scheduled, and how late they started (µs).
    pub planned: Option<u64>,
    pub lag: Option<Histogram<u64>>,
    /// Why sending stopped.
    pub stopped_by: &'static str,
}

/// Open loop: when request `i` is due, counted from the start.
pub fn scheduled_offset(i: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(i as f64 / rate)
}

/// Open loop: requests due within `duration` (`i / rate < duration`), capped.
pub fn planned_requests(rate: f64, duration: Duration, cap: Option<u64>) -> u64 {
    let due = (rate * duration.as_secs_f64()).ceil();
    let due = if due >= u64::MAX as f64 {
        u64::MAX
    } else {
        due as u64
    };
    cap.map_or(due, |c| c.min(due))
}

/// Whether a zone that answered sold out can still sell `quantity`, judging by the
/// holds this generator received.
pub fn tickets_remain(capacity: u32, holds: u64, quantity: u32) -> bool {
    let taken = holds.saturating_mul(u64::from(quantity));
    u64::from(capacity).saturating_sub(taken) >= u64::from(quantity)
}

#[derive(Deserialize)]
struct ProblemType<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Cow<'a, str>,
}

#[derive(Deserialize)]
struct BookingId<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
}

/// A checkout's answer: the booking it settled (or left pending).
#[derive(Deserialize)]
struct Checkout {
    booking: BookingStatusOnly,
}

/// What a purchase waits on, and when the server made the hold and the sale.
#[derive(Deserialize)]
struct BookingStatusOnly {
    status: String,
    created_at: String,
    updated_at: String,
}

impl BookingStatusOnly {
    /// From the hold to the confirmation, by the server's clock.
    fn took(&self) -> Option<Duration> {
        use time::format_description::well_known::Rfc3339;
        let at = |s: &str| time::OffsetDateTime::parse(s, &Rfc3339).ok();
        let took = at(&self.updated_at)? - at(&self.created_at)?;
        Duration::try_from(took).ok()
    }
}

/// The `type` of a problem body; `(none)` when the body is not a problem document.
pub fn problem_type(body: &[u8]) -> Cow<'_, str> {
    serde_json::from_slice::<ProblemType>(body)
        .ok()
        .map(|p| p.kind)
        .filter(|k| !k.is_empty())
        .unwrap_or(Cow::Borrowed("(none)"))
}

/// Opens every connection first so connection setup is not part of the measurement,
/// a few at a time: a burst of a thousand connects overflows the server's accept
/// queue, and each dropped handshake costs a one-second retransmission. Connections
/// take the targets in turn.
pub async fn connect_all(targets: &[Target], clients: usize) -> anyhow::Result<Vec<Conn>> {
    let mut set = JoinSet::new();
    let mut conns = Vec::with_capacity(clients);
    for i in 0..clients {
        if set.len() >= CONNECT_PARALLEL {
            if let Some(joined) = set.join_next().await {
                conns.push(joined??);
            }
        }
        let target = targets[i % targets.len()].clone();
        set.spawn(async move {
            let mut conn = Conn::new(target, REQUEST_TIMEOUT);
            conn.warm().await.map(|()| conn)
        });
    }
    while let Some(joined) = set.join_next().await {
        conns.push(joined??);
    }
    Ok(conns)
}

impl Shared {
    fn buyer(&self, i: u64) -> usize {
        (i % self.load.tokens.len() as u64) as usize
    }

    /// One reserve (and its confirm with `--confirm`), measured from `origin`.
    async fn reserve(&self, conn: &mut Conn, stats: &Mutex<Stats>, i: u64, origin: Instant) {
        let buyer = self.buyer(i);
        let token = &self.load.tokens[buyer];
        let answer = conn.post(RESERVE_PATH, token, self.load.body.next()).await;
        let latency = origin.elapsed();
        let answer = match answer {
            Ok(a) => a,
            Err(f) => {
                stats.lock().error(f.kind, &f.error);
                self.failed.fetch_add(1, Relaxed);
                return;
            }
        };
        self.answered.fetch_add(1, Relaxed);
        if answer.status == StatusCode::CREATED {
            stats.lock().answered(answer.status.as_u16(), latency);
            self.holds.fetch_add(1, Relaxed);
            self.per_buyer[buyer].fetch_add(1, Relaxed);
            if self.load.settings.checkout {
                self.checkout(conn, stats, token, &answer.body, origin)
                    .await;
            } else if self.load.settings.confirm {
                self.confirm(conn, stats, token, &answer.body).await;
            }
            return;
        }
        let kind = problem_type(&answer.body);
        if kind == SOLD_OUT {
            self.sold_out_seen.store(true, Relaxed);
        } else if kind == LIMIT_REACHED {
            self.limited[buyer].store(true, Relaxed);
        }
        let mut stats = stats.lock();
        stats.answered(answer.status.as_u16(), latency);
        stats.problem(&kind);
    }

    async fn confirm(
        &self,
        conn: &mut Conn,
        stats: &Mutex<Stats>,
        token: &HeaderValue,
        body: &[u8],
    ) {
        let failure = match serde_json::from_slice::<BookingId>(body) {
            Err(_) => "201 without a booking id".to_string(),
            Ok(b) => {
                let path = format!("/api/v1/bookings/{}/confirm", b.id);
                match conn.post(&path, token, Bytes::new()).await {
                    Ok(a) if a.status == StatusCode::OK => {
                        stats.lock().confirmed += 1;
                        return;
                    }
                    Ok(a) => format!("{} {}", a.status.as_u16(), problem_type(&a.body)),
                    Err(f) => f.kind.to_string(),
                }
            }
        };
        *stats.lock().confirm_failures.entry(failure).or_default() += 1;
    }

    /// Pays for a hold (a card that always captures) and waits, polling the booking,
    /// until the captured payment has confirmed it.
    async fn checkout(
        &self,
        conn: &mut Conn,
        stats: &Mutex<Stats>,
        token: &HeaderValue,
        body: &[u8],
        origin: Instant,
    ) {
        let failure = match serde_json::from_slice::<BookingId>(body) {
            Err(_) => "201 without a booking id".to_string(),
            Ok(b) => match self.pay(conn, stats, token, &b.id).await {
                Ok(took) => {
                    let mut stats = stats.lock();
                    stats.confirmed += 1;
                    // Measured by the server (hold created → sale confirmed), so the
                    // client's polling interval does not blur it; the client's own
                    // view is a bound above it.
                    let took = took.unwrap_or_else(|| origin.elapsed());
                    let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                    let _ = stats.purchase.record(us.max(1));
                    return;
                }
                Err(reason) => reason,
            },
        };
        *stats.lock().confirm_failures.entry(failure).or_default() += 1;
    }

    async fn pay(
        &self,
        conn: &mut Conn,
        stats: &Mutex<Stats>,
        token: &HeaderValue,
        id: &str,
    ) -> Result<Option<Duration>, String> {
        let path = format!("/api/v1/bookings/{id}/checkout");
        let body = Bytes::from_static(br#"{"payment_method":"pm_card_ok"}"#);
        // As a buyer's page would: wait in the request for the provider's result.
        let prefer = (
            HeaderName::from_static("prefer"),
            HeaderValue::from_static("wait=10"),
        );
        let sent = Instant::now();
        let answer = conn.post_with(&path, token, body, prefer).await;
        let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = stats.lock().checkout.record(us.max(1));
        match answer {
            Ok(a) if a.status == StatusCode::OK => {
                let settled = serde_json::from_slice::<Checkout>(&a.body).ok();
                let booking = settled.map(|c| c.booking);
                return match booking.as_ref().map_or("", |b| b.status.as_str()) {
                    "confirmed" => Ok(booking.and_then(|b| b.took())),
                    other => Err(format!("ended {other}")),
                };
            }
            Ok(a) if a.status == StatusCode::ACCEPTED => {}
            Ok(a) => {
                return Err(format!(
                    "checkout {} {}",
                    a.status.as_u16(),
                    problem_type(&a.body)
                ))
            }
            Err(f) => return Err(format!("checkout {}", f.kind)),
        }
        let path = format!("/api/v1/bookings/{id}");
        // As a buyer's page would: soon, then less and less often, so the polls
        // are not the load.
        let mut wait = Duration::from_millis(5);
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            tokio::time::sleep(wait).await;
            let answer = conn
                .get(&path, token)
                .await
                .map_err(|f| format!("poll {}", f.kind))?;
            let booking = serde_json::from_slice::<BookingStatusOnly>(&answer.body).ok();
            let status = booking.as_ref().map_or("", |b| b.status.as_str());
            match status {
                "confirmed" => return Ok(booking.and_then(|b| b.took())),
                "payment_pending" | "held" if Instant::now() < give_up => {}
                other => return Err(format!("ended {other}")),
            }
            wait = (wait * 2).min(Duration::from_millis(200));
        }
    }

    async fn closed_loop(&self, task: usize, mut conn: Conn, deadline: Instant) {
        let stats = &self.shards[task % self.shards.len()];
        let cap = self.load.settings.requests.unwrap_or(u64::MAX);
        while !self.stop.load(Relaxed) && Instant::now() < deadline {
            let i = self.issued.fetch_add(1, Relaxed);
            if i >= cap {
                break;
            }
            self.reserve(&mut conn, stats, i, Instant::now()).await;
        }
        stats.lock().connects += conn.connects;
    }

    async fn open_loop(
        &self,
        task: usize,
        mut conn: Conn,
        t0: Instant,
        rate: f64,
        hard_stop: Instant,
    ) {
        let stats = &self.shards[task % self.shards.len()];
        while !self.stop.load(Relaxed) {
            let i = self.issued.fetch_add(1, Relaxed);
            if i >= self.planned {
                break;
            }
            let due = t0 + scheduled_offset(i, rate);
            tokio::time::sleep_until(due.checked_sub(TIMER_SLACK).unwrap_or(due)).await;
            let started = Instant::now();
            if started >= hard_stop {
                break;
            }
            stats
                .lock()
                .started_late(started.saturating_duration_since(due));
            self.reserve(&mut conn, stats, i, due.min(started)).await;
        }
        stats.lock().connects += conn.connects;
    }
}

/// Runs the load on the prepared connections and waits for every task.
pub async fn run(
    load: Load,
    conns: Vec<Conn>,
    bar: &ProgressBar,
    // Asked how many tickets remain once sold out was seen.
    api: &Api,
    show: &Show,
) -> anyhow::Result<Outcome> {
    let s = load.settings.clone();
    let buyers = load.tokens.len();
    let planned = match s.mode {
        Mode::Closed => u64::MAX,
        Mode::Open { rate } => planned_requests(rate, s.duration, s.requests),
    };
    let shared = Arc::new(Shared {
        load,
        issued: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        holds: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        per_buyer: (0..buyers).map(|_| AtomicU32::new(0)).collect(),
        limited: (0..buyers).map(|_| AtomicBool::new(false)).collect(),
        sold_out_seen: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        planned,
        shards: (0..SHARDS.min(s.clients))
            .map(|_| Mutex::new(Stats::default()))
            .collect(),
    });
    let cpu0 = stats::process_cpu();
    let server_cpu0 = s.server_pid.and_then(stats::pid_cpu);
    let t0 = Instant::now();
    let deadline = t0 + s.duration;
    let mut set = JoinSet::new();
    for (task, conn) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        match s.mode {
            Mode::Closed => {
                set.spawn(async move { shared.closed_loop(task, conn, deadline).await })
            }
            Mode::Open { rate } => set.spawn(async move {
                shared
                    .open_loop(task, conn, t0, rate, deadline + OPEN_LOOP_GRACE)
                    .await
            }),
        };
    }
    let mut stopped_by_sold_out = false;
    let mut last_poll = t0;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            joined = set.join_next() => match joined {
                None => break,
                Some(joined) => joined?,
            },
            _ = tick.tick() => {
                let elapsed = t0.elapsed();
                draw(bar, &shared, elapsed, &s);
                if !s.stop_when_sold_out || !shared.sold_out_seen.load(Relaxed) || shared.stop.load(Relaxed) {
                    continue;
                }
                let holds = shared.holds.load(Relaxed);
                let mut remain = tickets_remain(s.capacity, holds, s.quantity);
                // An answer lost on the way may hide a hold: ask the server now and then.
                if remain && last_poll.elapsed() >= Duration::from_millis(500) {
                    last_poll = Instant::now();
                    if let Ok(a) = api.available(show).await {
                        remain = a >= s.quantity;
                    }
                }
                if !remain {
                    stopped_by_sold_out = true;
                    shared.stop.store(true, Relaxed);
                }
            },
        }
    }
    let elapsed = t0.elapsed();
    draw(bar, &shared, elapsed, &s);
    let since = |before: Option<Duration>, now: Option<Duration>| match (before, now) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let cpu = since(cpu0, stats::process_cpu());
    let server_cpu = since(server_cpu0, s.server_pid.and_then(stats::pid_cpu));
    let mut total = Stats::default();
    for shard in &shared.shards {
        total.merge(&shard.lock());
    }
    let sent = total.requests();
    let stopped_by = if stopped_by_sold_out {
        "sold out"
    } else if s.requests.is_some_and(|k| sent >= k) {
        "request cap"
    } else {
        match s.mode {
            Mode::Open { .. } if sent < planned => "open-loop grace period",
            Mode::Open { .. } => "schedule complete",
            Mode::Closed => "duration",
        }
    };
    Ok(Outcome {
        elapsed,
        cpu,
        server_cpu,
        per_buyer: shared.per_buyer.iter().map(|n| n.load(Relaxed)).collect(),
        limited: shared.limited.iter().map(|b| b.load(Relaxed)).collect(),
        sold_out_seen: shared.sold_out_seen.load(Relaxed),
        planned: matches!(s.mode, Mode::Open { .. }).then_some(planned),
        lag: matches!(s.mode, Mode::Open { .. }).then(|| total.lag.clone()),
        stats: total,
        stopped_by,
    })
}

fn draw(bar: &ProgressBar, shared: &Shared, elapsed: Duration, s: &Settings) {
    if bar.is_hidden() {
        return;
    }
    let total = s.duration.as_millis() as u64;
    bar.set_position((elapsed.as_millis() as u64).min(total));
    let answered = shared.answered.load(Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-3);
    bar.set_message(format!(
        "{answered} req {:.0}/s, {} holds, {} err{}",
        answered as f64 / secs,
        shared.holds.load(Relaxed),
        shared.failed.load(Relaxed),
        if shared.sold_out_seen.load(Relaxed) {
            ", sold out"
        } else {
            ""
        }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spreads_requests_evenly() {
        assert_eq!(scheduled_offset(0, 100.0), Duration::ZERO);
        assert_eq!(scheduled_offset(1, 100.0), Duration::from_millis(10));
        assert_eq!(scheduled_offset(250, 1000.0), Duration::from_millis(250));
        assert_eq!(scheduled_offset(3, 2.0), Duration::from_millis(1500));
    }

    #[test]
    fn planned_requests_fit_in_the_duration() {
        assert_eq!(planned_requests(10.0, Duration::from_secs(1), None), 10);
        assert_eq!(planned_requests(2.5, Duration::from_secs(1), None), 3);
        assert_eq!(
            planned_requests(10_000.0, Duration::from_secs(10), None),
            100_000
        );
        assert_eq!(
            planned_requests(10_000.0, Duration::from_secs(10), Some(5)),
            5
        );
        // The last one is still due before the end.
        let n = planned_requests(3.0, Duration::from_secs(2), None);
        assert!(scheduled_offset(n - 1, 3.0) < Duration::from_secs(2));
        assert!(scheduled_offset(n, 3.0) >= Duration::from_secs(2));
    }

    #[test]
    fn sold_out_means_fewer_than_one_request_left() {
        assert!(tickets_remain(10, 9, 1));
        assert!(!tickets_remain(10, 10, 1));
        assert!(tickets_remain(10, 4, 2));
        assert!(!tickets_remain(10, 4, 3));
        assert!(!tickets_remain(10, u64::MAX, 3));
    }

    #[test]
    fn problem_types_are_read_without_copying() {
        let body = br#"{"type":"/problems/sold-out","title":"Sold out","status":409}"#;
        assert!(matches!(problem_type(body), Cow::Borrowed(SOLD_OUT)));
        assert_eq!(problem_type(b"not json"), "(none)");
        assert_eq!(problem_type(br#"{"title":"x"}"#), "(none)");
    }
}

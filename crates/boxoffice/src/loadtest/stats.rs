//! Measurements: connection tasks record into a few shared shards of histograms and
//! counters (short locks, bounded memory), merged into totals once the load stops.
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency a histogram holds, in µs (past the request timeout); slower answers
/// are clamped to it. With three significant digits a histogram takes about 140 KB.
const MAX_LATENCY_US: u64 = 60_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

/// What one or all connection tasks saw.
#[derive(Clone)]
pub struct Stats {
    /// Latency of every answered reserve, in µs.
    pub all: Histogram<u64>,
    /// Latency of the reserves answered `201`, in µs.
    pub created: Histogram<u64>,
    /// Open loop: how late each request started after it was due, in µs.
    pub lag: Histogram<u64>,
    /// Answered reserves by HTTP status.
    pub status: BTreeMap<u16, u64>,
    /// Non-2xx reserves by problem `type`.
    pub problems: BTreeMap<String, u64>,
    /// Reserves without an answer, by kind (`connect`, `timeout`, `transport`).
    pub errors: BTreeMap<&'static str, u64>,
    /// Holds confirmed: confirm requests answered `200`, or purchases whose payment
    /// confirmed them.
    pub confirmed: u64,
    /// With `--checkout`: from the reserve request to the booking seen confirmed, in µs.
    pub purchase: Histogram<u64>,
    /// With `--checkout`: how long `POST /bookings/{id}/checkout` took to answer, in µs.
    pub checkout: Histogram<u64>,
    /// Confirm requests that failed, by status or error kind.
    pub confirm_failures: BTreeMap<String, u64>,
    /// The first reason a reserve got no answer, to show what went wrong.
    pub first_error: Option<String>,
    /// Connections opened.
    pub connects: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            all: histogram(),
            created: histogram(),
            lag: histogram(),
            status: BTreeMap::new(),
            problems: BTreeMap::new(),
            errors: BTreeMap::new(),
            confirmed: 0,
            purchase: histogram(),
            checkout: histogram(),
            confirm_failures: BTreeMap::new(),
            first_error: None,
            connects: 0,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Stats {
    pub fn answered(&mut self, status: u16, latency: Duration) {
        let us = micros(latency);
        self.all.saturating_record(us);
        if status == 201 {
            self.created.saturating_record(us);
        }
        *self.status.entry(status).or_default() += 1;
    }

    pub fn started_late(&mut self, by: Duration) {
        self.lag.saturating_record(micros(by));
    }

    pub fn problem(&mut self, kind: &str) {
        match self.problems.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                self.problems.insert(kind.to_string(), 1);
            }
        }
    }

    pub fn error(&mut self, kind: &'static str, error: &anyhow::Error) {
        *self.errors.entry(kind).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{kind}: {error:#}"));
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.all.add(&other.all);
        let _ = self.created.add(&other.created);
        let _ = self.lag.add(&other.lag);
        for (k, v) in &other.status {
            *self.status.entry(*k).or_default() += v;
        }
        for (k, v) in &other.problems {
            *self.problems.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.confirmed += other.confirmed;
        let _ = self.purchase.add(&other.purchase);
        let _ = self.checkout.add(&other.checkout);
        for (k, v) in &other.confirm_failures {
            *self.confirm_failures.entry(k.clone()).or_default() += v;
        }
        self.connects += other.connects;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// Reserves sent, answered or not.
    pub fn requests(&self) -> u64 {
        self.status.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }

    pub fn holds(&self) -> u64 {
        self.status.get(&201).copied().unwrap_or(0)
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }

    /// `p50 1.23 ms  p95 …` with two decimals, rounded like [`round2`].
    pub fn line(&self) -> String {
        format!(
            "p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={})",
            round2(self.p50),
            round2(self.p95),
            round2(self.p99),
            round2(self.max),
            self.count
        )
    }
}

/// Rounds to two decimals, half away from zero, so text and JSON agree.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// CPU time of this process (user + system) from `/proc/self/stat`.
pub fn process_cpu() -> Option<Duration> {
    cpu_of("/proc/self/stat")
}

/// CPU time of another process on this machine (its threads included).
pub fn pid_cpu(pid: u32) -> Option<Duration> {
    cpu_of(&format!("/proc/{pid}/stat"))
}

fn cpu_of(stat_path: &str) -> Option<Duration> {
    cpu_from_stat(&std::fs::read_to_string(stat_path).ok()?)
}

/// Clock ticks per second of `/proc` times on Linux (`USER_HZ`).
const TICKS_PER_SEC: u64 = 100;

/// Fields 14 (utime) and 15 (stime) of a `/proc/<pid>/stat` line, in ticks, as time.
/// The command name (field 2) may hold spaces and parentheses, so fields are counted
/// from the last `)`.
pub fn cpu_from_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state): utime is field 14, the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_SEC))
}

/// CPU time as a percentage of one core over `wall`.
pub fn cpu_percent(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_user_plus_system_time() {
        let line = "4242 (boxoffice) S 1 4242 4242 0 -1 4194560 2045 0 0 0 150 37 0 0 20 0 9 0 123 4567 89 18446744073709551615";
        assert_eq!(cpu_from_stat(line), Some(Duration::from_millis(1870)));
        let odd = "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1";
        assert_eq!(cpu_from_stat(odd), Some(Duration::from_millis(100)));
        assert_eq!(cpu_from_stat("garbage"), None);
        assert_eq!(cpu_from_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn own_process_has_a_cpu_time() {
        assert!(process_cpu().is_some());
    }

    #[test]
    fn cpu_percent_is_of_one_core() {
        assert_eq!(
            cpu_percent(Duration::from_secs(3), Duration::from_secs(2)),
            150.0
        );
        assert_eq!(cpu_percent(Duration::from_secs(1), Duration::ZERO), 0.0);
    }

    #[test]
    fn percentiles_are_in_milliseconds() {
        let mut s = Stats::default();
        for ms in 1..=100u64 {
            s.answered(
                if ms % 2 == 0 { 201 } else { 409 },
                Duration::from_millis(ms),
            );
        }
        let all = Latency::of(&s.all);
        assert_eq!(all.count, 100);
        assert!((all.p50 - 50.0).abs() < 0.1, "{all:?}");
        assert!((all.p99 - 99.0).abs() < 0.1, "{all:?}");
        assert!((all.max - 100.0).abs() < 0.1, "{all:?}");
        assert_eq!(Latency::of(&s.created).count, 50);
        assert_eq!(Latency::of(&histogram()), Latency::default());
        let line = Latency {
            count: 3,
            p50: 1.0,
            p95: 2.345,
            p99: 3.0,
            max: 10.0,
        }
        .line();
        assert_eq!(
            line,
            "p50 1.00 ms  p95 2.35 ms  p99 3.00 ms  max 10.00 ms  (n=3)"
        );
    }

    #[test]
    fn merging_adds_everything() {
        let mut a = Stats::default();
        a.answered(201, Duration::from_millis(1));
        a.error("timeout", &anyhow::anyhow!("slow"));
        let mut b = Stats::default();
        b.answered(409, Duration::from_millis(2));
        b.problem("/problems/sold-out");
        b.confirmed = 2;
        b.started_late(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.requests(), 3);
        assert_eq!(a.holds(), 1);
        assert_eq!(a.all.len(), 2);
        assert_eq!(a.lag.len(), 1);
        assert_eq!(a.problems["/problems/sold-out"], 1);
        assert_eq!(a.confirmed, 2);
        assert_eq!(a.first_error.as_deref(), Some("timeout: slow"));
    }
}

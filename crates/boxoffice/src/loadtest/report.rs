//! Results for people (a short report) and scripts (one JSON line), with the generator's
//! own CPU use so a saturated client is not mistaken for a slow server.
use super::args::Settings;
use super::run::Outcome;
use super::stats::{self, round2 as r2, Latency};
use super::verify::Check;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The numbers of a run, computed once for both renderings.
pub struct Summary {
    pub requests: u64,
    pub holds: u64,
    pub duration_s: f64,
    pub requests_per_s: f64,
    pub holds_per_s: f64,
    pub all: Latency,
    pub created: Latency,
    pub lag: Option<Latency>,
    pub client_cpu_pct: Option<f64>,
    /// With `--server-pid`: the server's CPU over the run, as a share of one core and
    /// per request answered (the figure its capacity depends on, far steadier than a
    /// closed loop's throughput on a shared machine).
    pub server_cpu_pct: Option<f64>,
    pub server_cpu_us_per_request: Option<f64>,
}

fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

impl Summary {
    pub fn of(o: &Outcome) -> Self {
        let secs = o.elapsed.as_secs_f64();
        Self {
            requests: o.stats.requests(),
            holds: o.stats.holds(),
            duration_s: secs,
            requests_per_s: per_second(o.stats.requests(), secs),
            holds_per_s: per_second(o.stats.holds(), secs),
            all: Latency::of(&o.stats.all),
            created: Latency::of(&o.stats.created),
            lag: o.lag.as_ref().map(Latency::of),
            client_cpu_pct: o.cpu.map(|c| stats::cpu_percent(c, o.elapsed)),
            server_cpu_pct: o.server_cpu.map(|c| stats::cpu_percent(c, o.elapsed)),
            server_cpu_us_per_request: o
                .server_cpu
                .filter(|_| o.stats.requests() > 0)
                .map(|c| c.as_secs_f64() * 1e6 / o.stats.requests() as f64),
        }
    }
}

/// The human-readable report.
pub fn text(s: &Settings, o: &Outcome, sum: &Summary, checks: &[Check]) -> String {
    let mut t = String::new();
    let mode = match s.mode.rate() {
        Some(r) => format!("open loop at {r} req/s"),
        None => "closed loop".into(),
    };
    let _ = writeln!(
        t,
        "\n== boxoffice loadtest: {mode}, {} connections ==",
        s.clients
    );
    let _ = writeln!(
        t,
        "show: {}capacity {}, per-buyer limit {}, {} buyers, {} ticket(s) per request{}",
        match s.seated {
            Some(super::args::SeatPick::Best) => "numbered seats by best available, ",
            Some(super::args::SeatPick::Random) => "numbered seats picked at random, ",
            None => "",
        },
        s.capacity,
        s.per_user_limit,
        s.buyers,
        s.quantity,
        if s.checkout {
            ", buying holds through the payment provider"
        } else if s.confirm {
            ", confirming holds"
        } else {
            ""
        }
    );
    let _ = writeln!(
        t,
        "requests:   {} in {:.2} s (stopped by {})",
        sum.requests, sum.duration_s, o.stopped_by
    );
    if let Some(planned) = o.planned {
        if planned > sum.requests {
            let _ = writeln!(
                t,
                "            {} of {planned} scheduled requests not sent: the generator fell behind",
                planned - sum.requests
            );
        }
    }
    let _ = writeln!(
        t,
        "throughput: {:.1} req/s, {:.1} holds/s ({} holds)",
        sum.requests_per_s, sum.holds_per_s, sum.holds
    );
    let _ = writeln!(t, "latency all: {}", sum.all.line());
    let _ = writeln!(t, "latency 201: {}", sum.created.line());
    if let Some(lag) = &sum.lag {
        let _ = writeln!(t, "start lag:   {} (included above)", lag.line());
    }
    let _ = writeln!(t, "status:     {}", counts(&o.stats.status));
    if !o.stats.problems.is_empty() {
        let _ = writeln!(t, "problems:   {}", counts(&o.stats.problems));
    }
    if !o.stats.errors.is_empty() {
        let _ = writeln!(t, "no answer:  {}", counts(&o.stats.errors));
        if let Some(first) = &o.stats.first_error {
            let _ = writeln!(t, "            first: {first}");
        }
    }
    if s.completes() {
        let failures: Vec<String> = o
            .stats
            .confirm_failures
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            t,
            "confirmed:  {} ({:.0} complete purchases/s){}",
            o.stats.confirmed,
            o.stats.confirmed as f64 / sum.duration_s.max(1e-9),
            if failures.is_empty() {
                String::new()
            } else {
                format!(" (failed: {})", failures.join(", "))
            }
        );
        if s.checkout {
            let _ = writeln!(
                t,
                "purchase:   {} (hold to sale, by the server's clock, through the provider)",
                Latency::of(&o.stats.purchase).line()
            );
            let _ = writeln!(
                t,
                "checkout:   {} (POST /bookings/{{id}}/checkout)",
                Latency::of(&o.stats.checkout).line()
            );
        }
    }
    let _ = writeln!(
        t,
        "client CPU: {} ({} connections opened)",
        match sum.client_cpu_pct {
            Some(p) => format!("{p:.0}% of one core"),
            None => "unknown".into(),
        },
        o.stats.connects
    );
    if let (Some(pct), Some(us)) = (sum.server_cpu_pct, sum.server_cpu_us_per_request) {
        let _ = writeln!(
            t,
            "server CPU: {pct:.0}% of one core, {us:.1} µs per request"
        );
    }
    let _ = writeln!(t, "\nverification:");
    for c in checks {
        let _ = writeln!(
            t,
            "  {} {}: {}",
            if c.passed { "PASS" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    let passed = checks.iter().all(|c| c.passed);
    let _ = write!(
        t,
        "{}",
        if passed {
            "all checks passed"
        } else {
            "SOME CHECKS FAILED"
        }
    );
    t
}

/// The machine-readable summary (one line of JSON).
pub fn json(s: &Settings, o: &Outcome, sum: &Summary, checks: &[Check], show_id: &str) -> Value {
    let status: serde_json::Map<String, Value> = o
        .stats
        .status
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let latency = |l: &Latency| json!({ "p50_ms": r2(l.p50), "p95_ms": r2(l.p95), "p99_ms": r2(l.p99), "max_ms": r2(l.max), "count": l.count });
    json!({
        "mode": s.mode.name(),
        "clients": s.clients,
        "rate": s.mode.rate(),
        "duration_s": r2(sum.duration_s),
        "capacity": s.capacity,
        "buyers": s.buyers,
        "per_user_limit": s.per_user_limit,
        "quantity": s.quantity,
        "seated": s.seated.map(|p| format!("{p:?}").to_lowercase()),
        "show_id": show_id,
        "requests": sum.requests,
        "planned_requests": o.planned,
        "holds": sum.holds,
        "holds_per_s": r2(sum.holds_per_s),
        "requests_per_s": r2(sum.requests_per_s),
        "p50_ms": r2(sum.all.p50),
        "p95_ms": r2(sum.all.p95),
        "p99_ms": r2(sum.all.p99),
        "max_ms": r2(sum.all.max),
        "created_latency": latency(&sum.created),
        "start_lag": sum.lag.as_ref().map(latency),
        "status": status,
        "problems": o.stats.problems,
        "errors": o.stats.errors,
        "first_error": o.stats.first_error,
        "confirmed": s.completes().then_some(o.stats.confirmed),
        "confirmed_per_s": s.completes().then(|| r2(o.stats.confirmed as f64 / sum.duration_s.max(1e-9))),
        "purchase_latency": s.checkout.then(|| latency(&Latency::of(&o.stats.purchase))),
        "checkout_latency": s.checkout.then(|| latency(&Latency::of(&o.stats.checkout))),
        "stopped_by": o.stopped_by,
        "client_cpu_pct": sum.client_cpu_pct.map(r2),
        "server_cpu_pct": sum.server_cpu_pct.map(r2),
        "server_cpu_us_per_request": sum.server_cpu_us_per_request.map(r2),
        "checks": checks.iter().map(|c| json!({"name": c.name, "passed": c.passed, "detail": c.detail})).collect::<Vec<_>>(),
        "checks_passed": checks.iter().all(|c| c.passed),
    })
}

/// `key: count, key: count` in key order.
fn counts<K: std::fmt::Display>(map: &std::collections::BTreeMap<K, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::args::Mode;
    use crate::loadtest::stats::Stats;
    use std::time::Duration;

    fn settings() -> Settings {
        Settings {
            url: "http://127.0.0.1:1".into(),
            nodes: vec!["http://127.0.0.1:1".into()],
            capacity: 10,
            buyers: 5,
            per_user_limit: 2,
            quantity: 1,
            clients: 4,
            mode: Mode::Closed,
            duration: Duration::from_secs(2),
            requests: None,
            confirm: false,
            checkout: false,
            stop_when_sold_out: true,
            seated: None,
            show: None,
            server_pid: None,
        }
    }

    fn outcome() -> Outcome {
        let mut stats = Stats::default();
        for ms in 1..=4 {
            stats.answered(201, Duration::from_millis(ms));
        }
        stats.answered(409, Duration::from_millis(8));
        stats.problem("/problems/sold-out");
        stats.error("timeout", &anyhow::anyhow!("no answer within 30s"));
        Outcome {
            stats,
            elapsed: Duration::from_secs(2),
            cpu: Some(Duration::from_millis(500)),
            server_cpu: Some(Duration::from_millis(1200)),
            per_buyer: vec![1, 1, 1, 1, 0],
            limited: vec![false; 5],
            sold_out_seen: true,
            planned: None,
            lag: None,
            stopped_by: "sold out",
        }
    }

    #[test]
    fn summary_counts_rates_and_cpu() {
        let sum = Summary::of(&outcome());
        assert_eq!(sum.requests, 6);
        assert_eq!(sum.holds, 4);
        assert_eq!(sum.requests_per_s, 3.0);
        assert_eq!(sum.holds_per_s, 2.0);
        assert_eq!(sum.client_cpu_pct, Some(25.0));
        // 1.2 s of the server's CPU over 2 s and 6 requests.
        assert_eq!(sum.server_cpu_pct, Some(60.0));
        assert_eq!(sum.server_cpu_us_per_request, Some(200_000.0));
        assert_eq!(sum.all.count, 5);
        assert_eq!(sum.created.count, 4);
    }

    #[test]
    fn renderings_show_statuses_and_checks() {
        let o = outcome();
        let sum = Summary::of(&o);
        let checks = vec![Check {
            name: "not oversold",
            passed: true,
            detail: "4 committed of 10".into(),
        }];
        let t = text(&settings(), &o, &sum, &checks);
        assert!(
            t.contains("throughput: 3.0 req/s, 2.0 holds/s (4 holds)"),
            "{t}"
        );
        assert!(t.contains("status:     201: 4, 409: 1"), "{t}");
        assert!(t.contains("problems:   /problems/sold-out: 1"), "{t}");
        assert!(t.contains("no answer:  timeout: 1"), "{t}");
        assert!(t.contains("first: timeout: no answer within 30s"), "{t}");
        assert!(t.contains("client CPU: 25% of one core"), "{t}");
        assert!(
            t.contains("server CPU: 60% of one core, 200000.0 µs per request"),
            "{t}"
        );
        assert!(t.contains("PASS not oversold: 4 committed of 10"), "{t}");
        assert!(t.ends_with("all checks passed"), "{t}");
        let j = json(&settings(), &o, &sum, &checks, "show");
        assert_eq!(j["mode"], "closed");
        assert_eq!(j["requests"], 6);
        assert_eq!(j["status"]["409"], 1);
        assert_eq!(j["problems"]["/problems/sold-out"], 1);
        assert_eq!(j["holds_per_s"], 2.0);
        assert_eq!(j["server_cpu_us_per_request"], 200_000.0);
        assert_eq!(j["checks_passed"], true);
        assert_eq!(j["rate"], Value::Null);
        assert!(j["p99_ms"].as_f64().unwrap() >= 4.0);
    }
}

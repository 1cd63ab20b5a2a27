//! `boxoffice top`: a live terminal view of a running server's sale, read from its
//! `/metrics` — per show and zone: holds/s, sold, held, available, the reserve p99
//! and failures by reason. What an operator watches in the first minute of an on-sale.
use super::exposition::{self, Sample};
use super::metrics::names;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const RESERVE_ROUTE: &str = "/api/v1/bookings/reserve";

#[derive(clap::Args)]
pub struct Args {
    /// The admin listener of the server to watch.
    #[arg(
        long,
        env = "BOXOFFICE_TOP_URL",
        default_value = "http://127.0.0.1:9464"
    )]
    pub url: String,
    /// Seconds between two readings (rates are over this window).
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// Print one view (after one interval) and exit, instead of refreshing.
    #[arg(long)]
    pub once: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let url = format!("{}/metrics", args.url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 3600.0));
    let mut previous = (read(&client, &url).await?, Instant::now());
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let now = (read(&client, &url).await?, Instant::now());
        let elapsed = now.1.duration_since(previous.1).as_secs_f64();
        let view = render(&Sale::from(&previous.0), &Sale::from(&now.0), elapsed);
        if args.once {
            print!("{view}");
            return Ok(());
        }
        // Clear the screen and draw from the top-left corner.
        print!("\x1b[2J\x1b[H{view}");
        previous = now;
    }
}

async fn read(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<Sample>> {
    let res = client.get(url).send().await?.error_for_status()?;
    let text = res.text().await?;
    exposition::parse(&text).map_err(|e| anyhow::anyhow!("unreadable metrics: {e}"))
}

/// The figures of one reading.
#[derive(Default)]
struct Sale {
    /// show → holds granted (counter).
    holds: BTreeMap<String, f64>,
    /// (show, reason) → refusals (counter).
    failures: BTreeMap<(String, String), f64>,
    /// (show, zone) → (available, held, sold).
    zones: BTreeMap<(String, String), (f64, f64, f64)>,
    /// Reserve latency buckets summed over statuses: upper bound → cumulative count.
    reserve: BTreeMap<u64, f64>,
    active: f64,
    ready: Option<f64>,
}

impl From<&Vec<Sample>> for Sale {
    fn from(samples: &Vec<Sample>) -> Self {
        let mut sale = Sale::default();
        let bucket = format!("{}_bucket", names::HTTP_DURATION);
        for s in samples {
            let label = |k: &str| s.label(k).unwrap_or("").to_owned();
            let v = s.value;
            match s.name.as_str() {
                names::RESERVATIONS => *sale.holds.entry(label("show")).or_default() += v,
                names::RESERVATION_FAILURES => {
                    *sale
                        .failures
                        .entry((label("show"), label("reason")))
                        .or_default() += v;
                }
                names::INVENTORY_TICKETS => {
                    let zone = sale
                        .zones
                        .entry((label("show"), label("zone")))
                        .or_default();
                    match s.label("state") {
                        Some("available") => zone.0 = v,
                        Some("held") => zone.1 = v,
                        Some("sold") => zone.2 = v,
                        _ => {}
                    }
                }
                names::ACTIVE_RESERVATIONS => sale.active = v,
                names::READY => sale.ready = Some(v),
                n if n == bucket && s.label("route") == Some(RESERVE_ROUTE) => {
                    // Keyed by the bound in microseconds (+Inf sorts last).
                    let key = match s.label("le").map(str::parse::<f64>) {
                        Some(Ok(le)) if le.is_finite() => (le * 1e6).round() as u64,
                        _ => u64::MAX,
                    };
                    *sale.reserve.entry(key).or_default() += v;
                }
                _ => {}
            }
        }
        sale
    }
}

/// The bucket bound (ms) under which `q` of the requests between two readings fell.
fn quantile(before: &BTreeMap<u64, f64>, after: &BTreeMap<u64, f64>, q: f64) -> Option<f64> {
    let delta: Vec<(u64, f64)> = after
        .iter()
        .map(|(k, v)| (*k, v - before.get(k).copied().unwrap_or(0.0)))
        .collect();
    let total = delta.last().map(|(_, v)| *v)?;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    delta.iter().find(|(_, v)| *v >= rank).map(|(k, _)| {
        if *k == u64::MAX {
            f64::INFINITY
        } else {
            *k as f64 / 1000.0
        }
    })
}

fn render(before: &Sale, after: &Sale, secs: f64) -> String {
    let mut out = String::new();
    let p99 = match quantile(&before.reserve, &after.reserve, 0.99) {
        Some(ms) if ms.is_finite() => format!("≤ {ms} ms"),
        Some(_) => "> 10 s".to_owned(),
        None => "–".to_owned(),
    };
    let ready = match after.ready {
        Some(v) if v >= 1.0 => "ready",
        Some(_) => "NOT READY",
        None => "?",
    };
    let _ = writeln!(
        out,
        "boxoffice top — {ready} — holds pending {} — reserve p99 {p99} (last {secs:.1} s)\n",
        after.active
    );
    let _ = writeln!(
        out,
        "{:<36} {:>9} {:>10} {:>10} {:>10}",
        "show / zone", "holds/s", "available", "held", "sold"
    );
    let shows: std::collections::BTreeSet<&String> = after
        .holds
        .keys()
        .chain(after.zones.keys().map(|(s, _)| s))
        .collect();
    for show in shows {
        let rate = (after.holds.get(show).copied().unwrap_or(0.0)
            - before.holds.get(show).copied().unwrap_or(0.0))
            / secs;
        let zones: Vec<_> = after.zones.iter().filter(|((s, _), _)| s == show).collect();
        let total = zones.iter().fold((0.0, 0.0, 0.0), |t, (_, z)| {
            (t.0 + z.0, t.1 + z.1, t.2 + z.2)
        });
        let _ = writeln!(
            out,
            "{show:<36} {rate:>9.1} {:>10} {:>10} {:>10}",
            total.0, total.1, total.2
        );
        for ((_, zone), z) in zones {
            let _ = writeln!(
                out,
                "  {zone:<34} {:>9} {:>10} {:>10} {:>10}",
                "", z.0, z.1, z.2
            );
        }
        let failures: Vec<String> = after
            .failures
            .iter()
            .filter(|((s, _), _)| s == show)
            .filter_map(|((_, reason), v)| {
                let rate = (v - before
                    .failures
                    .get(&(show.clone(), reason.clone()))
                    .copied()
                    .unwrap_or(0.0))
                    / secs;
                (rate > 0.0).then(|| format!("{reason} {rate:.1}/s"))
            })
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "  refused: {}", failures.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading: holds, sold-out refusals, reserve answers under 5 ms and in all
    /// (the rest under 10 ms), plus `extra` lines.
    fn reading(holds: u32, refused: u32, under_5ms: u32, total: u32, extra: &str) -> Vec<Sample> {
        let route = "route=\"/api/v1/bookings/reserve\",method=\"POST\",status=\"201\"";
        let text = format!(
            "booking_reservations_total{{show=\"s1\"}} {holds}\n\
             booking_reservation_failures_total{{show=\"s1\",reason=\"sold-out\"}} {refused}\n\
             http_request_duration_seconds_bucket{{{route},le=\"0.005\"}} {under_5ms}\n\
             http_request_duration_seconds_bucket{{{route},le=\"0.01\"}} {total}\n\
             http_request_duration_seconds_bucket{{{route},le=\"+Inf\"}} {total}\n\
             http_request_duration_seconds_count{{{route}}} {total}\n{extra}"
        );
        exposition::parse(&text).expect("parses")
    }

    #[test]
    fn rates_zones_failures_and_p99_come_from_two_readings() {
        let before = reading(100, 5, 10, 10, "");
        let after = reading(
            300,
            25,
            108,
            110,
            "inventory_tickets{show=\"s1\",zone=\"z1\",state=\"available\"} 7\n\
             inventory_tickets{show=\"s1\",zone=\"z1\",state=\"held\"} 3\n\
             inventory_tickets{show=\"s1\",zone=\"z1\",state=\"sold\"} 90\n",
        );
        let view = render(&Sale::from(&before), &Sale::from(&after), 2.0);
        assert!(view.contains("100.0"), "200 holds over 2 s: {view}");
        assert!(view.contains("sold-out 10.0/s"), "{view}");
        assert!(
            view.contains("p99 ≤ 10 ms"),
            "98 of 100 under 5 ms, the rest under 10: {view}"
        );
        let zone = view.lines().find(|l| l.contains("z1")).expect("zone row");
        let cells: Vec<&str> = zone.split_whitespace().collect();
        assert_eq!(cells, ["z1", "7", "3", "90"], "{view}");
    }
}

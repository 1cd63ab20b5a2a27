//! `boxoffice loadtest --queue --hold-streams SECS`: how many waiting buyers one
//! server keeps informed. Every buyer joins a paused waiting room, opens its
//! Server-Sent Events stream, and keeps it open for SECS seconds; the report gives
//! the streams opened and held, how long opening them took and, given the server's
//! process id on this machine, its memory per stream.
//!
//! Over HTTP/1.1 every stream is a connection of its own, so a process's open-file
//! limit bounds them on both ends; `--http2` multiplexes them as HTTP/2 streams,
//! [`STREAMS_PER_CONNECTION`] to a connection, as a browser or an edge proxy would.
use super::api::Api;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Streams an HTTP/2 connection carries (under the server's limit of 200).
pub const STREAMS_PER_CONNECTION: usize = 100;

/// What the run is asked to do.
#[derive(Clone, Debug)]
pub struct StreamRun {
    pub hold: Duration,
    pub http2: bool,
    /// Joins and stream openings in flight at once.
    pub concurrency: usize,
    /// The server's process, to read its resident memory (same machine only).
    pub server_pid: Option<u32>,
}

#[derive(Default)]
struct Counts {
    open: AtomicU64,
    first_events: AtomicU64,
    events: AtomicU64,
    ended_early: AtomicU64,
    failed: AtomicU64,
}

/// Resident memory of `pid` in bytes, from `/proc` (Linux).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

pub(super) fn client(http2: bool) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder().timeout(Duration::from_secs(3600));
    Ok(if http2 {
        builder.http2_prior_knowledge().build()?
    } else {
        builder.build()?
    })
}

/// Follows one place, counting its events, until the stream ends or the task is
/// stopped at the end of the hold.
async fn follow(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    counts: &Counts,
    opening: tokio::sync::SemaphorePermit<'_>,
) -> anyhow::Result<()> {
    let mut res = http.get(url).bearer_auth(token).send().await?;
    anyhow::ensure!(res.status() == 200, "events answered {}", res.status());
    counts.open.fetch_add(1, Ordering::Relaxed);
    let mut opening = Some(opening);
    let mut seen = 0u64;
    loop {
        let Some(chunk) = res.chunk().await? else {
            counts.open.fetch_sub(1, Ordering::Relaxed);
            counts.ended_early.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let events = chunk.windows(7).filter(|w| w == b"event: ").count() as u64;
        if seen == 0 && events > 0 {
            counts.first_events.fetch_add(1, Ordering::Relaxed);
            opening.take();
        }
        seen += events;
        counts.events.fetch_add(events, Ordering::Relaxed);
    }
}

/// Runs the streams measurement and prints its report; whether every check passed.
pub async fn run(
    api: &Api,
    base: &str,
    tokens: Vec<String>,
    run: &StreamRun,
) -> anyhow::Result<bool> {
    let show = api.create_show(1, 1).await?;
    let queue = format!("/api/v1/shows/{}/queue", show.id);
    let opens = (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)?;
    api.put_json(
        &queue,
        json!({"method": "fifo", "opens_at": opens, "admission": "fixed", "rate_per_sec": 1,
               "pre_queue_secs": 0, "max_size": 10_000_000}),
        "configuring the queue",
    )
    .await?;
    // Paused: joins are taken, nobody is admitted, so every stream stays open.
    api.post_json(
        &format!("{queue}/state"),
        json!({"action": "pause"}),
        "pausing the queue",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Joins go over HTTP/1.1 either way: over HTTP/2 a POST whose (empty) body the
    // handler never reads ends in a stream reset, and past 1,024 of those the
    // server's HTTP/2 layer closes the connection as abusive (h2's guard against
    // reset floods). Only the event streams, which are GETs, are multiplexed.
    let joiner = client(false)?;
    let gate = Arc::new(Semaphore::new(run.concurrency));
    let join_url = format!("{base}{queue}/join");
    let started = Instant::now();
    let mut joins = Vec::with_capacity(tokens.len());
    for token in &tokens {
        let (http, url, token, gate) = (
            joiner.clone(),
            join_url.clone(),
            token.clone(),
            gate.clone(),
        );
        joins.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let res = http.post(url).bearer_auth(token).send().await?;
            anyhow::ensure!(res.status().is_success(), "join answered {}", res.status());
            anyhow::Ok(())
        }));
    }
    let mut join_errors = 0u64;
    let mut errors: Vec<String> = Vec::new();
    for j in joins {
        let outcome = j.await.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = outcome {
            join_errors += 1;
            if errors.len() < 3 {
                errors.push(format!("join: {e:#}"));
            }
        }
    }
    let join_secs = started.elapsed().as_secs_f64();
    let before = run.server_pid.and_then(resident_bytes);

    // One client per connection's worth of streams over HTTP/2; one pool over HTTP/1.1.
    let clients: Vec<reqwest::Client> = if run.http2 {
        (0..tokens.len().div_ceil(STREAMS_PER_CONNECTION))
            .map(|_| client(true))
            .collect::<anyhow::Result<_>>()?
    } else {
        vec![client(false)?]
    };
    let counts = Arc::new(Counts::default());
    let opening = Arc::new(Semaphore::new(run.concurrency));
    let events_url = format!("{base}{queue}/events");
    let opened_at = Instant::now();
    let mut streams = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.into_iter().enumerate() {
        let http = clients[i / STREAMS_PER_CONNECTION % clients.len()].clone();
        let (url, counts, opening) = (events_url.clone(), counts.clone(), opening.clone());
        streams.push(tokio::spawn(async move {
            let permit = opening.acquire().await?;
            let outcome = follow(&http, &url, &token, &counts, permit).await;
            if outcome.is_err() {
                counts.failed.fetch_add(1, Ordering::Relaxed);
            }
            outcome
        }));
    }
    // Wait until every stream has its first event (or nothing moves for 30 s).
    let wanted = streams.len() as u64;
    let mut last = (0, Instant::now());
    loop {
        let got = counts.first_events.load(Ordering::Relaxed);
        let failed = counts.failed.load(Ordering::Relaxed);
        if got + failed >= wanted {
            break;
        }
        if got != last.0 {
            last = (got, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_secs = opened_at.elapsed().as_secs_f64();
    let opened = counts.first_events.load(Ordering::Relaxed);
    let during = run.server_pid.and_then(resident_bytes);
    // Hold them all, then end every stream at once.
    tokio::time::sleep(run.hold).await;
    let held = counts.open.load(Ordering::Relaxed);
    let after_hold = run.server_pid.and_then(resident_bytes);
    let events_held = counts.events.load(Ordering::Relaxed);
    for s in &streams {
        s.abort();
    }
    for s in streams {
        if let Ok(Err(e)) = s.await {
            if errors.len() < 5 {
                errors.push(e.to_string());
            }
        }
    }
    api.post_json(
        &format!("{queue}/state"),
        json!({"action": "close"}),
        "closing the queue",
    )
    .await?;

    println!(
        "held streams: {wanted} buyers over {} ({} connections)",
        if run.http2 { "HTTP/2" } else { "HTTP/1.1" },
        if run.http2 {
            clients.len() as u64
        } else {
            wanted
        }
    );
    println!(
        "joins: {wanted} in {join_secs:.2} s ({:.0}/s); join errors {join_errors}",
        wanted as f64 / join_secs.max(1e-9)
    );
    println!(
        "streams: {opened} opened with their first event in {open_secs:.2} s ({:.0}/s); {held} still open after {:.0} s; {} ended early; {} failed; {events_held} events",
        opened as f64 / open_secs.max(1e-9),
        run.hold.as_secs_f64(),
        counts.ended_early.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    if let (Some(b), Some(d)) = (before, during) {
        let per = d.saturating_sub(b) as f64 / opened.max(1) as f64;
        println!(
            "server memory: {:.1} MiB before the streams, {:.1} MiB with them open, {:.1} MiB after {:.0} s: {:.1} KiB per stream",
            b as f64 / 1048576.0,
            d as f64 / 1048576.0,
            after_hold.unwrap_or(d) as f64 / 1048576.0,
            run.hold.as_secs_f64(),
            per / 1024.0
        );
    }
    for e in &errors {
        println!("error: {e}");
    }
    let checks = [
        ("every buyer joined", join_errors == 0),
        ("every stream opened with its place", opened == wanted),
        ("every stream held to the end", held == wanted),
    ];
    for (what, ok) in checks {
        println!("[{}] {what}", if ok { "ok" } else { "FAILED" });
    }
    Ok(checks.iter().all(|(_, ok)| *ok))
}

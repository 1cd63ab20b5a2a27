//! `boxoffice loadtest --queue`: an on-sale through the waiting room. Buyers join
//! (some in the pre-queue window), follow their place by polling or Server-Sent
//! Events, and reserve with their pass once admitted. The report gives join and
//! status throughput, time to sell-out, the reserve p99, how faithfully admission
//! followed join order (Spearman's rank correlation), and checks that no ticket was
//! taken without a valid pass.
use super::api::{Api, Show};
use super::stats::histogram;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What the queue run is asked to do.
#[derive(Clone, Debug)]
pub struct QueueRun {
    pub buyers: u32,
    pub capacity: u32,
    pub rate_per_sec: u32,
    /// Share of buyers who join before opening.
    pub pre_queue_share: f64,
    /// Buyers who follow over Server-Sent Events (the others poll).
    pub sse: u32,
    /// Seconds from the queue's creation to its opening.
    pub opens_in_secs: u32,
    /// Requests in flight at once (SSE streams excluded).
    pub concurrency: usize,
    /// SSE followers multiplexed over HTTP/2 (100 streams to a connection) rather
    /// than a connection each.
    pub http2: bool,
}

#[derive(Default)]
struct Shared {
    joins: AtomicU64,
    statuses: AtomicU64,
    early: AtomicU64,
    reserves_ok: AtomicU64,
    sold_out: AtomicBool,
    sold_out_at: Mutex<Option<Instant>>,
    reserve_us: Mutex<Option<Histogram<u64>>>,
    /// (place id, pass jti) of every admitted buyer.
    admitted: Mutex<Vec<(String, String)>>,
    join_errors: AtomicU64,
    other_errors: Mutex<Vec<String>>,
}

fn jti_of(pass: &str) -> Option<String> {
    let payload = pass.split('.').nth(1)?;
    let bytes = crate::signing::b64url_decode(payload).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v["jti"].as_str().map(str::to_owned)
}

/// Spearman's rank correlation of two rankings of the same items (no ties).
pub fn spearman(a: &[u64], b: &[u64]) -> f64 {
    let n = a.len() as f64;
    if a.len() < 2 {
        return 1.0;
    }
    let rank = |v: &[u64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by_key(|i| v[*i]);
        let mut r = vec![0f64; v.len()];
        for (pos, i) in idx.into_iter().enumerate() {
            r[i] = pos as f64;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
    1.0 - 6.0 * d2 / (n * (n * n - 1.0))
}

/// A request's outcome as the generator saw it.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    took: Duration,
}

struct Buyer {
    http: reqwest::Client,
    /// The client its event stream goes through (an HTTP/2 connection's with --http2).
    streams: reqwest::Client,
    /// The node it joins through.
    base: String,
    /// The node it then follows its place and reserves through: with several
    /// nodes, the next one, so every buyer is served by two.
    next: String,
    show: Show,
    token: String,
    sse: bool,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    reserve_gate: Arc<Semaphore>,
}

impl Buyer {
    /// Sends `req` once one of the generator's connections is free; the answer and
    /// how long the server took (from sending, not from waiting for a connection).
    async fn call(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        self.call_through(&self.gate, req).await
    }

    /// [`Self::call`] through connections of its own (`gate`'s).
    async fn call_through(
        &self,
        gate: &Semaphore,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<Answer> {
        let _permit = gate.acquire().await?;
        let sent = Instant::now();
        let res = req.bearer_auth(&self.token).send().await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            body,
            took: sent.elapsed(),
        })
    }

    async fn join(&self) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1/shows/{}/queue/join", self.base, self.show.id);
        let Answer { status, body, .. } = self.call(self.http.post(url)).await?;
        self.shared.joins.fetch_add(1, Ordering::Relaxed);
        anyhow::ensure!(
            status == 201 || status == 200,
            "join answered {status}: {body}"
        );
        Ok(body)
    }

    /// Polls with the pace the server asks for until a pass comes (or the sale ends).
    async fn poll(&self, mut place: Value) -> anyhow::Result<Option<String>> {
        let url = format!("{}/api/v1/shows/{}/queue/status", self.next, self.show.id);
        loop {
            if let Some(pass) = place["pass"].as_str() {
                return Ok(Some(pass.to_owned()));
            }
            if place["status"] != "waiting" || self.shared.sold_out.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let wait = place["poll_after_secs"].as_u64().unwrap_or(5).max(1);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let Answer {
                status,
                headers,
                body,
                ..
            } = self.call(self.http.get(&url)).await?;
            self.shared.statuses.fetch_add(1, Ordering::Relaxed);
            if status == 429 {
                self.shared.early.fetch_add(1, Ordering::Relaxed);
                let retry = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(5u64);
                place["poll_after_secs"] = json!(retry);
                continue;
            }
            anyhow::ensure!(status == 200, "status answered {status}: {body}");
            place = body;
        }
    }

    /// Follows the event stream until the pass comes.
    async fn follow(&self) -> anyhow::Result<Option<String>> {
        let url = format!("{}/api/v1/shows/{}/queue/events", self.next, self.show.id);
        let mut res = self
            .streams
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await?;
        anyhow::ensure!(res.status() == 200, "events answered {}", res.status());
        let mut text = String::new();
        while let Some(chunk) = res.chunk().await? {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let data = event.lines().find_map(|l| l.strip_prefix("data: "));
                if let Some(place) = data.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
                    if let Some(pass) = place["pass"].as_str() {
                        return Ok(Some(pass.to_owned()));
                    }
                    if place["status"] != "waiting" {
                        return Ok(None);
                    }
                }
            }
            if self.shared.sold_out.load(Ordering::Relaxed) {
                return Ok(None);
            }
        }
        Ok(None)
    }

    async fn reserve(&self, pass: &str) -> anyhow::Result<()> {
        let url = format!("{}/api/v1/bookings/reserve", self.next);
        let body = json!({"show_id": self.show.id, "zone_id": self.show.zone_id, "quantity": 1});
        let Answer {
            status,
            body: answer,
            took,
            ..
        } = self
            .call_through(
                &self.reserve_gate,
                self.http.post(url).header("X-Queue-Pass", pass).json(&body),
            )
            .await?;
        let us = took.as_micros() as u64;
        if let Some(h) = self.shared.reserve_us.lock().as_mut() {
            let _ = h.record(us.max(1));
        }
        match status {
            201 => {
                self.shared.reserves_ok.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            409 if answer["type"] == "/problems/sold-out" => {
                if !self.shared.sold_out.swap(true, Ordering::Relaxed) {
                    *self.shared.sold_out_at.lock() = Some(Instant::now());
                }
                Ok(())
            }
            _ => anyhow::bail!("reserve answered {status}: {answer}"),
        }
    }

    async fn run(self, place: Value) {
        let outcome = async {
            let place_id = place["place_id"].as_str().unwrap_or_default().to_owned();
            let pass = if self.sse {
                self.follow().await?
            } else {
                self.poll(place).await?
            };
            if let Some(pass) = pass {
                if let Some(jti) = jti_of(&pass) {
                    self.shared.admitted.lock().push((place_id, jti));
                }
                if !self.shared.sold_out.load(Ordering::Relaxed) {
                    self.reserve(&pass).await?;
                }
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = outcome {
            let mut errors = self.shared.other_errors.lock();
            if errors.len() < 5 {
                errors.push(e.to_string());
            }
        }
    }
}

/// Runs the queued sale and prints its report; whether every check passed.
pub async fn run(
    api: &Api,
    nodes: &[String],
    tokens: Vec<String>,
    run: &QueueRun,
) -> anyhow::Result<bool> {
    let show = api.create_show(run.capacity, 1).await?;
    let opens =
        time::OffsetDateTime::now_utc() + time::Duration::seconds(i64::from(run.opens_in_secs));
    let opens = opens.format(&time::format_description::well_known::Rfc3339)?;
    api.put_json(
        &format!("/api/v1/shows/{}/queue", show.id),
        json!({"method": "random_at_opening", "opens_at": opens, "admission": "fixed",
               "rate_per_sec": run.rate_per_sec, "pass_ttl_secs": 600, "pre_queue_secs": 3600,
               "max_size": 10_000_000}),
        "configuring the queue",
    )
    .await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(run.concurrency)
        .timeout(Duration::from_secs(3600))
        .build()?;
    let shared = Arc::new(Shared {
        reserve_us: Mutex::new(Some(histogram())),
        ..Shared::default()
    });
    // Admitted buyers are other people than the crowd still joining: their reserves
    // go through connections of their own, not behind its requests.
    let reserve_gate = Arc::new(Semaphore::new(run.concurrency));
    let stream_clients: Vec<reqwest::Client> = if run.http2 {
        (0..(run.sse.min(run.buyers) as usize).div_ceil(super::streams::STREAMS_PER_CONNECTION))
            .map(|_| super::streams::client(true))
            .collect::<anyhow::Result<_>>()?
    } else {
        Vec::new()
    };
    let gate = Arc::new(Semaphore::new(run.concurrency));
    let early = (f64::from(run.buyers) * run.pre_queue_share) as usize;
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut join_secs = 0.0;
    let mut opened_at = started;
    let mut sorted: Vec<(usize, String)> = Vec::new();
    for (phase, range) in [(0, 0..early), (1, early..tokens.len())] {
        if phase == 1 {
            let wait =
                Duration::from_secs(u64::from(run.opens_in_secs)).saturating_sub(started.elapsed());
            tokio::time::sleep(wait + Duration::from_millis(200)).await;
            opened_at = Instant::now();
        }
        let phase_start = Instant::now();
        let mut joins = Vec::new();
        for i in range {
            let streams = stream_clients
                .get(i / super::streams::STREAMS_PER_CONNECTION)
                .unwrap_or(&http)
                .clone();
            let buyer = Buyer {
                http: http.clone(),
                streams,
                base: nodes[i % nodes.len()].clone(),
                next: nodes[(i + 1) % nodes.len()].clone(),
                show: show.clone(),
                token: tokens[i].clone(),
                sse: (i as u32) < run.sse,
                shared: shared.clone(),
                gate: gate.clone(),
                reserve_gate: reserve_gate.clone(),
            };
            joins.push(tokio::spawn(async move {
                match buyer.join().await {
                    Ok(place) => Some((buyer, place)),
                    Err(e) => {
                        buyer.shared.join_errors.fetch_add(1, Ordering::Relaxed);
                        let mut errors = buyer.shared.other_errors.lock();
                        if errors.len() < 5 {
                            errors.push(e.to_string());
                        }
                        None
                    }
                }
            }));
        }
        for j in joins {
            if let Some((buyer, place)) = j.await? {
                sorted.push((
                    phase,
                    place["place_id"].as_str().unwrap_or_default().to_owned(),
                ));
                tasks.push(tokio::spawn(buyer.run(place)));
            }
        }
        join_secs += phase_start.elapsed().as_secs_f64();
    }
    let joined = shared.joins.load(Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let end = shared.sold_out_at.lock().unwrap_or_else(Instant::now);
    let sell_out = end.saturating_duration_since(opened_at);
    let stats: Value = api
        .get_json(
            &format!("/api/v1/shows/{}/queue/stats", show.id),
            "queue stats",
        )
        .await?;
    let sales = api.sales(&show).await?;
    let taken: u64 = sales.zones.iter().map(|z| u64::from(z.held + z.sold)).sum();

    // Fairness: join order (place ids are time-ordered) against admission order (pass
    // ids too), for everyone and for those who came after opening.
    let admitted = shared.admitted.lock().clone();
    let pass_of: std::collections::HashMap<&str, &str> = admitted
        .iter()
        .map(|(p, j)| (p.as_str(), j.as_str()))
        .collect();
    let mut by_join: Vec<(&String, &str, usize)> = sorted
        .iter()
        .filter_map(|(phase, p)| pass_of.get(p.as_str()).map(|j| (p, *j, *phase)))
        .collect();
    by_join.sort();
    let ranks = |phase: Option<usize>| {
        let rows: Vec<&(&String, &str, usize)> = by_join
            .iter()
            .filter(|r| phase.is_none_or(|p| r.2 == p))
            .collect();
        let mut by_pass: Vec<usize> = (0..rows.len()).collect();
        by_pass.sort_by_key(|i| rows[*i].1);
        let mut admission = vec![0u64; rows.len()];
        for (pos, i) in by_pass.into_iter().enumerate() {
            admission[i] = pos as u64;
        }
        spearman(&(0..rows.len() as u64).collect::<Vec<_>>(), &admission)
    };
    let (all, after_opening, pre_queue) = (ranks(None), ranks(Some(1)), ranks(Some(0)));
    let h = shared.reserve_us.lock().take().unwrap_or_else(histogram);
    let reserves = shared.reserves_ok.load(Ordering::Relaxed);
    let used = stats["passes"]["used"].as_u64().unwrap_or(0);
    // Probes: a reserve without a pass and one with a forged pass must both be refused.
    let probe = api.reserve_probe(&show, &tokens[0]).await?;
    let checks = [
        (
            "every ticket taken went to a reserve with a valid pass",
            taken == reserves && used == reserves,
        ),
        (
            "reserves without a pass or with a forged one are refused (403)",
            probe,
        ),
        ("nothing oversold", taken <= u64::from(run.capacity)),
        (
            "buyers admitted after opening in join order (rank correlation > 0.99)",
            after_opening > 0.99 || by_join.iter().filter(|r| r.2 == 1).count() < 3,
        ),
    ];
    println!(
        "queued on-sale: {} buyers ({} in the pre-queue, {} over SSE{}), {} tickets, admission {}/s",
        run.buyers,
        early,
        run.sse.min(run.buyers),
        if run.http2 { " on HTTP/2" } else { "" },
        run.capacity,
        run.rate_per_sec
    );
    println!(
        "joins: {joined} in {join_secs:.2} s ({:.0}/s); join errors {}",
        joined as f64 / join_secs.max(1e-9),
        shared.join_errors.load(Ordering::Relaxed)
    );
    let run_secs = started.elapsed().as_secs_f64();
    println!(
        "status polls: {} ({:.0}/s over the run), answered 429 for coming early: {}",
        shared.statuses.load(Ordering::Relaxed),
        shared.statuses.load(Ordering::Relaxed) as f64 / run_secs,
        shared.early.load(Ordering::Relaxed)
    );
    println!(
        "sold out {:.2} s after opening; {} reserved, {} tickets taken, passes used {}",
        sell_out.as_secs_f64(),
        reserves,
        taken,
        used
    );
    println!(
        "reserve latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} answered)",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
    println!("fairness (Spearman, join vs admission order): all {all:.4}, after opening {after_opening:.4}, pre-queue (drawn) {pre_queue:.4}");
    println!("queue figures: {stats}");
    for e in shared.other_errors.lock().iter() {
        println!("error: {e}");
    }
    for (what, ok) in checks {
        println!("[{}] {what}", if ok { "ok" } else { "FAILED" });
    }
    Ok(checks.iter().all(|(_, ok)| *ok))
}

#[cfg(test)]
mod tests {
    use super::spearman;

    #[test]
    fn rank_correlation_of_known_orders() {
        let same: Vec<u64> = (0..100).collect();
        assert!((spearman(&same, &same) - 1.0).abs() < 1e-12);
        let reversed: Vec<u64> = (0..100).rev().collect();
        assert!((spearman(&same, &reversed) + 1.0).abs() < 1e-12);
        let swapped = [1, 0, 2, 3, 4];
        assert!((spearman(&[0, 1, 2, 3, 4], &swapped) - 0.9).abs() < 1e-12);
    }
}

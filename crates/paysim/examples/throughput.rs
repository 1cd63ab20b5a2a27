//! How many intents per second the simulator takes, with every result delivered as
//! a signed webhook to a local receiver: `cargo run --release -p paysim --example
//! throughput -- [intents] [concurrency]`. Client, simulator and receiver share one
//! process; on a busy 2-core machine 20,000 intents took about 2.7 s (≈7,000/s,
//! every webhook delivered), so the simulator is never the bottleneck of a checkout
//! load test.
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use paysim::{Simulator, SimulatorConfig};
use secrecy::SecretString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let intents: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let concurrency: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);

    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            counter.fetch_add(1, Ordering::Relaxed);
            async { StatusCode::OK }
        }),
    );
    let hooks = TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", hooks.local_addr()?);
    tokio::spawn(async move { axum::serve(hooks, app).await });

    let mut config = SimulatorConfig::new(
        SecretString::from("sk_bench"),
        SecretString::from("whsec_bench"),
    );
    config.webhook_url = Some(hook_url);
    let sim = Simulator::start(config, TcpListener::bind("127.0.0.1:0").await?)?;
    let url = format!("{}/v1/payment_intents", sim.url());
    let client = reqwest::Client::new();

    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= intents {
                    return anyhow::Ok(());
                }
                let r = client
                    .post(&url)
                    .bearer_auth("sk_bench")
                    .header("Idempotency-Key", format!("bench-{n}"))
                    .json(&serde_json::json!({"amount": 1000, "currency": "EUR",
                        "payment_method": "pm_card_visa",
                        "metadata": {"booking_id": format!("b{n}"), "payment_id": format!("p{n}")}}))
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "status {}", r.status());
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let accepted = started.elapsed();
    while received.load(Ordering::Relaxed) < intents && started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let settled = started.elapsed();
    let totals = sim.ledger().totals;
    println!(
        "{intents} intents, {concurrency} concurrent: accepted in {:.2} s ({:.0}/s); \
         all {} webhooks in {:.2} s ({:.0}/s); captured {} of {} intents",
        accepted.as_secs_f64(),
        intents as f64 / accepted.as_secs_f64(),
        received.load(Ordering::Relaxed),
        settled.as_secs_f64(),
        intents as f64 / settled.as_secs_f64(),
        totals.succeeded,
        totals.intents,
    );
    sim.shutdown().await;
    Ok(())
}

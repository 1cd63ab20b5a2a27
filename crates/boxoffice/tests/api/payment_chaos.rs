//! A thousand purchases against an unreliable provider, with the server killed once
//! in the middle: 20 % of cards declined, 10 % of gateway calls answered too late,
//! half the webhooks delivered twice and out of order. When everything has settled,
//! every booking's money at the provider matches its state: captured ==
//! (confirmed ? price : 0) + refunded, and our ledger says the same.
use crate::crash::{admin_token, bulk, call, sale, Setup};
use crate::on_both_backends;
use crate::support::{client, eventually, free_port, read, Backend, PaySim, Resp, TestDb};
use paysim::SimulatorKnobs;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PURCHASES: usize = 1_000;
const PRICE: i64 = 1_000;
const WORKERS: usize = 32;

/// Sends `req` until some server answers it (the one killed, or its successor on
/// the same port), with the same idempotency key each time.
async fn persist(http: &reqwest::Client, url: &str, token: &str, key: &str, body: &Value) -> Resp {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sent = http
            .post(url)
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await;
        if let Ok(res) = sent {
            let r = read(res).await;
            // 503 while the process is stopping or starting, 409 request-in-flight
            // while the dead process's claim on the key runs out: retry; anything
            // else is an answer.
            let retry = (r.status == 503 && r.body["type"] != "/problems/payment-unavailable")
                || r.body["type"] == "/problems/request-in-flight";
            if !retry {
                return r;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no server answered {url} for a minute"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn purchases_survive_chaos_and_a_kill(backend: Backend) {
    let db = TestDb::create(backend).await;
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let knobs = SimulatorKnobs {
        processing_ms: 20,
        failure_rate: 0.2,
        timeout_rate: 0.1,
        duplicate_rate: 0.5,
        reorder_ms: 50,
        latency_ms: 0,
    };
    let sim = PaySim::start(
        knobs,
        format!(
            "http://127.0.0.1:{port}{}",
            boxoffice::payments::http::WEBHOOK_PATH
        ),
    )
    .await;
    let mut env = sim.env();
    env.extend([
        ("BOXOFFICE_PAYMENTS__TIMEOUT_MS".into(), "300".into()),
        ("BOXOFFICE_PAYMENTS__GRACE_SECS".into(), "5".into()),
        // Claims on idempotency keys left by the killed process run out quickly.
        ("BOXOFFICE_REQUEST_TIMEOUT_SECS".into(), "2".into()),
        // Timeouts are part of the weather here, not an outage.
        ("BOXOFFICE_PAYMENTS__BREAKER_FAILURES".into(), "1000".into()),
    ]);
    let setup = Setup {
        database_url: db.url.clone(),
        dir: work.path().to_owned(),
        env,
    };
    setup.create_admin().await;
    let mut first = setup.serve_at("first", port).await;
    let http = client();
    let admin = admin_token(&http, &first).await;
    let (show_id, zone_id) = sale(&http, &first, &admin, PURCHASES as u64 + 100, PRICE).await;
    let buyers = bulk(&http, &first, &admin, PURCHASES as u32, "chaos").await;

    // Each buyer holds one ticket and pays for it; the server dies halfway.
    let bookings: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let checked_out = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let base = first.url("");
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let mine: Vec<(usize, String)> = buyers
                .iter()
                .cloned()
                .enumerate()
                .skip(w)
                .step_by(WORKERS)
                .collect();
            let (http, base, bookings, checked_out) = (
                http.clone(),
                base.clone(),
                bookings.clone(),
                checked_out.clone(),
            );
            let (show_id, zone_id) = (show_id.clone(), zone_id.clone());
            tokio::spawn(async move {
                for (n, token) in mine {
                    let held = persist(
                        &http,
                        &format!("{base}/api/v1/bookings/reserve"),
                        &token,
                        &format!("hold-{n}"),
                        &json!({"show_id": show_id, "zone_id": zone_id, "quantity": 1}),
                    )
                    .await;
                    let id = held.expect(201)["id"].as_str().unwrap().to_owned();
                    bookings.lock().unwrap().insert(id.clone(), token.clone());
                    let paid = persist(
                        &http,
                        &format!("{base}/api/v1/bookings/{id}/checkout"),
                        &token,
                        &format!("pay-{n}"),
                        &json!({"payment_method": "pm_card_visa"}),
                    )
                    .await;
                    // An attempt started before the kill stands (its answer was lost).
                    let earlier = paid.status == 409
                        && (paid.body["type"] == "/problems/payment-in-progress"
                            || paid.body["type"] == "/problems/invalid-state");
                    assert!(
                        paid.status == 202 || paid.status == 503 || earlier,
                        "checkout answered {}: {}",
                        paid.status,
                        paid.text
                    );
                    checked_out.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    eventually(Duration::from_secs(60), "half the purchases", || async {
        (checked_out.load(std::sync::atomic::Ordering::SeqCst) >= PURCHASES / 2).then_some(())
    })
    .await;
    first.kill().await;
    let second = setup.serve_at("second", port).await;
    for w in workers {
        w.await.unwrap();
    }
    let bookings = bookings.lock().unwrap().clone();
    assert_eq!(bookings.len(), PURCHASES);

    // Everything settles: no payment in flight here or at the provider.
    let statuses = eventually(
        Duration::from_secs(90),
        "every payment to settle",
        || async {
            let ledger = sim.handle.ledger();
            if ledger.totals.processing > 0 || ledger.intents.iter().any(|i| i.refund_pending > 0) {
                return None;
            }
            let mut statuses = HashMap::new();
            for (id, token) in &bookings {
                let r = call(
                    &http,
                    second.url(&format!("/api/v1/bookings/{id}/payments")),
                    token,
                    None,
                )
                .await;
                let body = r.expect(200).clone();
                let status = body["booking"]["status"].as_str().unwrap().to_owned();
                let open = body["payments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["status"] == "pending" || p["status"] == "processing")
                    || body["refunds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["status"] == "processing");
                if status == "payment_pending" || open {
                    return None;
                }
                statuses.insert(id.clone(), status);
            }
            Some(statuses)
        },
    )
    .await;

    // Per booking, the provider's money matches the booking's state.
    let ledger = sim.handle.ledger();
    let mut at_provider: HashMap<&str, (i64, i64)> = HashMap::new();
    for i in &ledger.intents {
        let e = at_provider.entry(i.booking_id.as_str()).or_default();
        e.0 += i.captured;
        e.1 += i.refunded;
    }
    let mut confirmed = 0;
    for (id, status) in &statuses {
        let (captured, refunded) = at_provider.get(id.as_str()).copied().unwrap_or_default();
        let kept = if status == "confirmed" { PRICE } else { 0 };
        assert_eq!(
            captured,
            kept + refunded,
            "booking {id} ({status}): captured {captured}, refunded {refunded}"
        );
        confirmed += usize::from(status == "confirmed");
    }
    assert!(
        confirmed > PURCHASES / 2,
        "most purchases went through ({confirmed})"
    );
    assert!(ledger.totals.failed > 0, "some cards were declined");

    // Our ledger and counters say the same as the provider.
    let sales = call(
        &http,
        second.url(&format!("/api/v1/shows/{show_id}/sales")),
        &admin,
        None,
    )
    .await;
    let sales = sales.expect(200);
    assert_eq!(sales["revenue"]["mismatches"], json!([]), "{sales}");
    assert_eq!(
        sales["revenue"]["captured_minor"], ledger.totals.captured,
        "{sales}"
    );
    assert_eq!(
        sales["revenue"]["refunded_minor"], ledger.totals.refunded,
        "{sales}"
    );
    // What the servers said went wrong with the counters, for a failure's message.
    let refusals: Vec<String> = [first.logs(), second.logs()]
        .iter()
        .flat_map(|l| l.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.contains("refused") || l.contains("still running"))
        .collect();
    assert_eq!(sales["consistent"], true, "{sales}\n{refusals:#?}");
    assert_eq!(sales["zones"][0]["sold"], confirmed as u64, "{sales}");
    drop(second);
    drop(work);
}

on_both_backends!(purchases_survive_chaos_and_a_kill);

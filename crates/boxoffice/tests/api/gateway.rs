//! The payment gateway against a real simulator: HTTP adapter, signed webhooks to a
//! real receiver, idempotent retries, the circuit breaker during an outage and
//! timeouts that took effect. No database: this is the provider's side of the port.
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use boxoffice::config::{GatewayKind, PaymentsConfig};
use boxoffice::payments::gateway::{
    connect, DynGateway, Gateway, GatewayError, GatewayEventKind, GatewayRefundStatus, HttpGateway,
    IntentRequest, IntentStatus, PaymentGateway, RefundRequest, WebhookError,
};
use boxoffice_domain::signature::{self, SignatureError};
use boxoffice_domain::{BookingId, Currency, Timestamp};
use paysim::{KnobsUpdate, Ledger, SimulatorHandle};
use secrecy::SecretString;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

const API_KEY: &str = "sk_test_gateway";
const SECRET: &str = "whsec_gateway";

/// One webhook as the receiver got it.
struct Delivery {
    signature: Option<String>,
    body: Bytes,
}

/// A merchant endpoint on port 0 that records every delivery; it answers 500 to
/// the first `refuse_first` of them, as a merchant in trouble would.
struct Receiver {
    url: String,
    deliveries: Mutex<mpsc::UnboundedReceiver<Delivery>>,
}

impl Receiver {
    async fn start(refuse_first: u32) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let refused = Arc::new(AtomicU32::new(0));
        let app = Router::new().route(
            "/webhook",
            post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                let refused = refused.clone();
                async move {
                    if refused.fetch_add(1, Ordering::SeqCst) < refuse_first {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let signature = headers
                        .get(paysim::SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let _ = tx.send(Delivery { signature, body });
                    StatusCode::OK
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            deliveries: Mutex::new(rx),
        }
    }

    async fn next(&self) -> Delivery {
        tokio::time::timeout(Duration::from_secs(10), self.deliveries.lock().await.recv())
            .await
            .expect("a webhook within 10 s")
            .expect("the receiver is running")
    }

    /// Nothing more arrives within `wait`.
    async fn quiet_for(&self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.deliveries.lock().await.recv())
            .await
            .is_err()
    }
}

fn config(kind: GatewayKind) -> PaymentsConfig {
    PaymentsConfig {
        gateway: kind,
        api_key: Some(SecretString::from(API_KEY)),
        webhook_secret: Some(SecretString::from(SECRET)),
        timeout_ms: 2_000,
        ..PaymentsConfig::default()
    }
}

/// The embedded default: `connect` starts the simulator on a port of its own.
async fn embedded(cfg: PaymentsConfig, receiver: &Receiver) -> (DynGateway, SimulatorHandle) {
    let cfg = PaymentsConfig {
        webhook_url: Some(receiver.url.clone()),
        ..cfg
    };
    let Gateway { gateway, simulator } = connect(&cfg).await.unwrap();
    (
        gateway.unwrap(),
        simulator.expect("an in-process simulator"),
    )
}

fn intent_request(key: &str, amount: i64, card: &str) -> IntentRequest {
    IntentRequest {
        idempotency_key: key.into(),
        amount_minor: amount,
        currency: Currency::parse("EUR").unwrap(),
        payment_method: card.into(),
        booking: BookingId::new(),
        payment: format!("pay_{key}"),
    }
}

/// `GET /_sim/ledger` over HTTP, with the API key.
async fn ledger(sim: &SimulatorHandle) -> Ledger {
    let r = reqwest::Client::new()
        .get(format!("{}/_sim/ledger", sim.url()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until the simulator has counted `n` delivered webhooks: a receiver sees a
/// delivery a moment before the simulator reads its answer.
async fn delivered(sim: &SimulatorHandle, n: u64) -> paysim::Totals {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let totals = sim.ledger().totals;
        if totals.webhooks_delivered >= n || Instant::now() > deadline {
            return totals;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_charge_is_announced_by_a_signed_webhook_and_refunds_are_bounded() {
    let receiver = Receiver::start(0).await;
    let (gateway, sim) = embedded(config(GatewayKind::Simulator), &receiver).await;

    let created = gateway
        .create_intent(&intent_request("checkout-1", 1_000, "pm_card_ok"))
        .await
        .unwrap();
    assert_eq!(created.status, IntentStatus::Processing);
    assert_eq!(created.payment, "pay_checkout-1");
    assert!(created.id.starts_with("pi_"));

    let delivery = receiver.next().await;
    let event = gateway
        .verify_webhook(
            delivery.signature.as_deref(),
            &delivery.body,
            Timestamp::now(),
        )
        .unwrap();
    assert!(event.id.starts_with("evt_"));
    let settled = match event.kind {
        GatewayEventKind::Intent(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(settled.id, created.id);
    assert_eq!(settled.status, IntentStatus::Succeeded);
    let captured_at = settled.captured_at.expect("a capture time");
    assert!((Timestamp::now().millis() - captured_at.millis()).abs() < 10_000);
    assert_eq!(gateway.retrieve_intent(&created.id).await.unwrap(), settled);

    // Cancelling after the capture answers the capture, not an error.
    let cancel = gateway
        .cancel_intent(&created.id, "cancel-1")
        .await
        .unwrap();
    assert_eq!(cancel.status, IntentStatus::Succeeded);

    let refund = gateway
        .refund(&RefundRequest {
            idempotency_key: "refund-1".into(),
            intent_id: created.id.clone(),
            amount_minor: 600,
        })
        .await
        .unwrap();
    assert_eq!(refund.status, GatewayRefundStatus::Pending);
    assert_eq!(refund.amount_minor, 600);
    let delivery = receiver.next().await;
    match gateway
        .verify_webhook(
            delivery.signature.as_deref(),
            &delivery.body,
            Timestamp::now(),
        )
        .unwrap()
        .kind
    {
        GatewayEventKind::Refund(r) => {
            assert_eq!(r.id, refund.id);
            assert_eq!(r.status, GatewayRefundStatus::Succeeded);
        }
        other => panic!("{other:?}"),
    }
    let too_much = gateway
        .refund(&RefundRequest {
            idempotency_key: "refund-2".into(),
            intent_id: created.id.clone(),
            amount_minor: 401,
        })
        .await;
    match too_much {
        Err(e @ GatewayError::Rejected(_)) => {
            assert!(e.to_string().contains("amount_too_large"), "{e}");
            assert!(!e.is_retryable());
        }
        other => panic!("{other:?}"),
    }

    let declined = gateway
        .create_intent(&intent_request("checkout-2", 500, "pm_card_declined"))
        .await
        .unwrap();
    let delivery = receiver.next().await;
    match gateway
        .verify_webhook(
            delivery.signature.as_deref(),
            &delivery.body,
            Timestamp::now(),
        )
        .unwrap()
        .kind
    {
        GatewayEventKind::Intent(i) => {
            assert_eq!(i.id, declined.id);
            assert_eq!(i.status, IntentStatus::Failed);
            assert_eq!(i.failure_code.as_deref(), Some("card_declined"));
            assert_eq!(i.captured_at, None);
        }
        other => panic!("{other:?}"),
    }

    assert_eq!(delivered(&sim, 3).await.webhooks_delivered, 3);
    let books = ledger(&sim).await;
    assert_eq!(books.totals.intents, 2);
    assert_eq!(books.totals.captured, 1_000);
    assert_eq!(books.totals.refunded, 600);
    assert_eq!(books.totals.webhooks_delivered, 3);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_reaches_the_same_intent_over_a_separate_simulator() {
    let receiver = Receiver::start(0).await;
    // As `boxoffice payment-sim` runs it: its own listener, reached by URL.
    let mut sim_config =
        paysim::SimulatorConfig::new(SecretString::from(API_KEY), SecretString::from(SECRET));
    sim_config.webhook_url = Some(receiver.url.clone());
    let sim = paysim::Simulator::start(sim_config, TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let cfg = PaymentsConfig {
        gateway_url: Some(sim.url().to_owned()),
        ..config(GatewayKind::Http)
    };
    let Gateway { gateway, simulator } = connect(&cfg).await.unwrap();
    assert!(simulator.is_none());
    let gateway = gateway.unwrap();

    let request = intent_request("checkout-retry", 2_500, "pm_card_ok");
    let first = gateway.create_intent(&request).await.unwrap();
    let second = gateway.create_intent(&request).await.unwrap();
    assert_eq!(first.id, second.id);
    let other_amount = IntentRequest {
        amount_minor: 2_600,
        ..request.clone()
    };
    match gateway.create_intent(&other_amount).await {
        Err(e @ GatewayError::Rejected(_)) => assert!(e.to_string().contains("idempotency")),
        other => panic!("{other:?}"),
    }
    receiver.next().await;
    let books = ledger(&sim).await;
    assert_eq!(books.totals.intents, 1);
    assert_eq!(books.totals.captured, 2_500);
    assert_eq!(books.intents[0].id, first.id);
    assert_eq!(books.intents[0].payment_id, "pay_checkout-retry");
    assert_eq!(
        books.intents[0].booking_id,
        request.booking.to_string(),
        "the booking travels as metadata"
    );

    // A wrong key is refused, and not retried as if the provider were down.
    let wrong = HttpGateway::new(
        sim.url(),
        SecretString::from("sk_wrong"),
        SecretString::from(SECRET),
        Duration::from_secs(2),
    )
    .unwrap();
    assert!(matches!(
        wrong.retrieve_intent(&first.id).await,
        Err(GatewayError::Rejected(_))
    ));
    let unauthenticated = reqwest::get(format!("{}/_sim/ledger", sim.url()))
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert!(matches!(
        gateway.retrieve_intent("pi_missing").await,
        Err(GatewayError::Rejected(_))
    ));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_unsigned_webhooks_are_refused() {
    let receiver = Receiver::start(0).await;
    let (gateway, sim) = embedded(config(GatewayKind::Simulator), &receiver).await;
    gateway
        .create_intent(&intent_request("checkout-forge", 700, "pm_card_ok"))
        .await
        .unwrap();
    let real = receiver.next().await;
    let header = real.signature.clone().expect("a signature header");
    let now = Timestamp::now();
    assert!(gateway
        .verify_webhook(Some(&header), &real.body, now)
        .is_ok());

    let forged_body = String::from_utf8(real.body.to_vec())
        .unwrap()
        .replace("\"amount\":700", "\"amount\":7");
    assert_ne!(forged_body.as_bytes(), &real.body[..]);
    assert_eq!(
        gateway.verify_webhook(Some(&header), forged_body.as_bytes(), now),
        Err(WebhookError::Signature(SignatureError::Mismatch))
    );
    let t = now.millis() / 1000;
    let other_secret = signature::header(&[b"whsec_someone_else"], t, &real.body);
    assert_eq!(
        gateway.verify_webhook(Some(&other_secret), &real.body, now),
        Err(WebhookError::Signature(SignatureError::Mismatch))
    );
    // The genuine delivery replayed six minutes later.
    assert_eq!(
        gateway.verify_webhook(Some(&header), &real.body, now.plus_secs(360)),
        Err(WebhookError::Signature(SignatureError::Stale))
    );
    let old = signature::header(&[SECRET.as_bytes()], t - 301, &real.body);
    assert_eq!(
        gateway.verify_webhook(Some(&old), &real.body, now),
        Err(WebhookError::Signature(SignatureError::Stale))
    );
    assert_eq!(
        gateway.verify_webhook(None, &real.body, now),
        Err(WebhookError::Signature(SignatureError::Malformed))
    );
    assert_eq!(
        gateway.verify_webhook(Some("v1=deadbeef"), &real.body, now),
        Err(WebhookError::Signature(SignatureError::Malformed))
    );
    // Signed with the right secret, but not an event.
    let junk = br#"{"hello":"world"}"#;
    let signed_junk = signature::header(&[SECRET.as_bytes()], t, junk);
    assert!(matches!(
        gateway.verify_webhook(Some(&signed_junk), junk, now),
        Err(WebhookError::Body(_))
    ));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_duplicated_on_demand_and_redelivered_after_a_refusal() {
    let receiver = Receiver::start(0).await;
    let mut cfg = config(GatewayKind::Simulator);
    cfg.simulator.duplicate_rate = 1.0;
    let (gateway, sim) = embedded(cfg, &receiver).await;
    let intent = gateway
        .create_intent(&intent_request("checkout-dup", 300, "pm_card_ok"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let d = receiver.next().await;
        let event = gateway
            .verify_webhook(d.signature.as_deref(), &d.body, Timestamp::now())
            .unwrap();
        match &event.kind {
            GatewayEventKind::Intent(i) => assert_eq!(i.id, intent.id),
            other => panic!("{other:?}"),
        }
        ids.push(event.id);
    }
    assert_eq!(ids[0], ids[1], "one event, delivered twice");
    assert!(receiver.quiet_for(Duration::from_millis(300)).await);
    assert_eq!(delivered(&sim, 2).await.webhooks_delivered, 2);
    sim.shutdown().await;

    // A merchant answering 500 gets the same event again, after a backoff.
    let refusing = Receiver::start(2).await;
    let (gateway, sim) = embedded(config(GatewayKind::Simulator), &refusing).await;
    let intent = gateway
        .create_intent(&intent_request("checkout-retry-hook", 300, "pm_card_ok"))
        .await
        .unwrap();
    let d = refusing.next().await;
    match gateway
        .verify_webhook(d.signature.as_deref(), &d.body, Timestamp::now())
        .unwrap()
        .kind
    {
        GatewayEventKind::Intent(i) => assert_eq!(i.id, intent.id),
        other => panic!("{other:?}"),
    }
    let totals = delivered(&sim, 1).await;
    assert_eq!(
        (totals.webhook_attempts_failed, totals.webhooks_delivered),
        (2, 1)
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_webhooks_all_arrive_once_each() {
    let receiver = Receiver::start(0).await;
    let mut cfg = config(GatewayKind::Simulator);
    cfg.simulator.reorder_ms = 200;
    let (gateway, sim) = embedded(cfg, &receiver).await;
    let mut created = Vec::new();
    for n in 0..10 {
        let key = format!("checkout-order-{n}");
        created.push(
            gateway
                .create_intent(&intent_request(&key, 100 + n, "pm_card_ok"))
                .await
                .unwrap()
                .id,
        );
    }
    let mut received = Vec::new();
    for _ in 0..10 {
        let d = receiver.next().await;
        match gateway
            .verify_webhook(d.signature.as_deref(), &d.body, Timestamp::now())
            .unwrap()
            .kind
        {
            GatewayEventKind::Intent(i) => received.push(i.id),
            other => panic!("{other:?}"),
        }
    }
    let mut sorted_created = created.clone();
    sorted_created.sort();
    received.sort();
    assert_eq!(received, sorted_created);
    assert!(receiver.quiet_for(Duration::from_millis(300)).await);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_during_an_outage_fails_fast_and_recovers() {
    let receiver = Receiver::start(0).await;
    let cfg = PaymentsConfig {
        breaker_failures: 3,
        breaker_open_secs: 1,
        ..config(GatewayKind::Simulator)
    };
    let (gateway, sim) = embedded(cfg, &receiver).await;
    sim.set_down(true);
    for n in 0..3 {
        match gateway
            .create_intent(&intent_request(&format!("down-{n}"), 100, "pm_card_ok"))
            .await
        {
            // The provider's own 503, passed on with its Retry-After.
            Err(GatewayError::Unavailable { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(1))
            }
            other => panic!("{other:?}"),
        }
    }
    // Open: answered here, without a round trip.
    let started = Instant::now();
    let fast = gateway
        .create_intent(&intent_request("down-fast", 100, "pm_card_ok"))
        .await;
    let elapsed = started.elapsed();
    let retry_after = match fast {
        Err(GatewayError::Unavailable { retry_after }) => retry_after,
        other => panic!("{other:?}"),
    };
    assert!(elapsed < Duration::from_millis(10), "{elapsed:?}");
    assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));

    // Back up, but the breaker still fails fast until its window ends.
    sim.set_down(false);
    assert!(matches!(
        gateway
            .create_intent(&intent_request("early", 100, "pm_card_ok"))
            .await,
        Err(GatewayError::Unavailable { .. })
    ));
    assert_eq!(sim.ledger().totals.intents, 0);
    tokio::time::sleep(retry_after + Duration::from_millis(50)).await;
    let probe = gateway
        .create_intent(&intent_request("after", 100, "pm_card_ok"))
        .await
        .unwrap();
    assert_eq!(probe.status, IntentStatus::Processing);
    assert!(gateway
        .create_intent(&intent_request("after-2", 100, "pm_card_ok"))
        .await
        .is_ok());
    assert_eq!(sim.ledger().totals.intents, 2);

    // A provider that is gone entirely (nothing listening) is a transport failure.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let gone = HttpGateway::new(
        &gone_url,
        SecretString::from(API_KEY),
        SecretString::from(SECRET),
        Duration::from_secs(2),
    )
    .unwrap();
    match gone.retrieve_intent("pi_x").await {
        Err(e @ GatewayError::Transport(_)) => assert!(e.is_retryable()),
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_took_effect_and_the_retry_with_its_key_finds_the_same_intent() {
    let receiver = Receiver::start(0).await;
    let mut cfg = PaymentsConfig {
        timeout_ms: 300,
        ..config(GatewayKind::Simulator)
    };
    cfg.simulator.timeout_rate = 1.0;
    let (gateway, sim) = embedded(cfg, &receiver).await;
    let request = intent_request("checkout-timeout", 4_200, "pm_card_ok");
    let started = Instant::now();
    match gateway.create_intent(&request).await {
        Err(e @ GatewayError::Timeout) => assert!(e.is_retryable()),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // The provider took it: the intent exists and is even captured.
    let books = ledger(&sim).await;
    assert_eq!(books.totals.intents, 1);
    let taken = books.intents[0].id.clone();
    receiver.next().await;

    sim.update_knobs(&KnobsUpdate {
        timeout_rate: Some(0.0),
        ..KnobsUpdate::default()
    })
    .unwrap();
    let retried = gateway.create_intent(&request).await.unwrap();
    assert_eq!(retried.id, taken);
    assert_eq!(retried.status, IntentStatus::Succeeded);
    let books = ledger(&sim).await;
    assert_eq!(books.totals.intents, 1);
    assert_eq!(books.totals.captured, 4_200, "charged once");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knobs_change_at_run_time_and_refuse_nonsense() {
    let receiver = Receiver::start(0).await;
    let (gateway, sim) = embedded(config(GatewayKind::Simulator), &receiver).await;
    let client = reqwest::Client::new();
    let post_knobs = |body: Value| {
        client
            .post(format!("{}/_sim/knobs", sim.url()))
            .bearer_auth(API_KEY)
            .json(&body)
            .send()
    };
    let r = post_knobs(serde_json::json!({"latency_ms": 150}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["latency_ms"], 150);
    assert_eq!(view["down"], false);
    let started = Instant::now();
    gateway
        .create_intent(&intent_request("slow", 100, "pm_card_ok"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));

    for bad in [
        serde_json::json!({"failure_rate": 2.0}),
        serde_json::json!({"no_such_knob": 1}),
    ] {
        let r = post_knobs(bad).await.unwrap();
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    assert_eq!(
        sim.knobs().knobs.latency_ms,
        150,
        "a refused change changes nothing"
    );

    let r = post_knobs(serde_json::json!({"down": true, "latency_ms": 0}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let down = client
        .get(format!("{}/v1/payment_intents/pi_x", sim.url()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    assert_eq!(down.headers()["retry-after"], "1");
    sim.shutdown().await;
}

#[tokio::test]
async fn no_gateway_and_an_incomplete_http_gateway() {
    let none = connect(&config(GatewayKind::None)).await.unwrap();
    assert!(none.gateway.is_none() && none.simulator.is_none());
    let err = connect(&config(GatewayKind::Http)).await.unwrap_err();
    assert!(err.to_string().contains("payments.gateway_url"), "{err}");
}

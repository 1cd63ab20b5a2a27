//! The simulator over real sockets: its API contract (keys, idempotency, errors),
//! the signature on its webhooks, refunds bounded by the capture, and its knobs.
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use paysim::{Simulator, SimulatorConfig, SimulatorHandle, SimulatorKnobs};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const KEY: &str = "sk_test_sim";
const SECRET: &[u8] = b"whsec_sim";

struct Setup {
    sim: SimulatorHandle,
    hooks: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
    client: reqwest::Client,
}

async fn setup(knobs: SimulatorKnobs) -> Setup {
    let (tx, hooks) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = SimulatorConfig::new(
        SecretString::from(KEY),
        SecretString::from(std::str::from_utf8(SECRET).unwrap()),
    );
    config.webhook_url = Some(hook_url);
    config.knobs = knobs;
    config.timeout_hold = Duration::from_secs(3);
    let sim = Simulator::start(config, TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    Setup {
        sim,
        hooks,
        client: reqwest::Client::new(),
    }
}

impl Setup {
    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        let mut r = self
            .client
            .post(format!("{}{path}", self.sim.url()))
            .bearer_auth(KEY)
            .json(&body);
        if let Some(key) = key {
            r = r.header("Idempotency-Key", key);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.sim.url()))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn intent(&self, key: &str, amount: i64, card: &str) -> Value {
        let (status, body) = self
            .post(
                "/v1/payment_intents",
                Some(key),
                json!({"amount": amount, "currency": "EUR", "payment_method": card,
                       "metadata": {"booking_id": "b-1", "payment_id": "p-1"}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The next webhook, its signature checked as a merchant would.
    async fn webhook(&mut self) -> Value {
        let (headers, body) = tokio::time::timeout(Duration::from_secs(5), self.hooks.recv())
            .await
            .expect("a webhook")
            .unwrap();
        let header = headers[paysim::SIGNATURE_HEADER].to_str().unwrap();
        let now = boxoffice_domain::Timestamp::now().millis() / 1000;
        boxoffice_domain::signature::verify(header, &body, &[SECRET], now, 300)
            .expect("a valid signature");
        assert_eq!(
            boxoffice_domain::signature::verify(header, &body, &[b"whsec_other"], now, 300),
            Err(boxoffice_domain::signature::SignatureError::Mismatch)
        );
        serde_json::from_slice(&body).unwrap()
    }
}

fn fast() -> SimulatorKnobs {
    SimulatorKnobs {
        processing_ms: 10,
        ..SimulatorKnobs::default()
    }
}

#[tokio::test]
async fn an_intent_is_processed_and_announced_by_a_signed_webhook() {
    let mut s = setup(fast()).await;
    let intent = s.intent("k-1", 1200, "pm_card_ok").await;
    assert_eq!(intent["status"], "processing");
    assert_eq!(intent["captured_at"], Value::Null);
    assert_eq!(intent["failure_code"], Value::Null);
    assert_eq!(intent["metadata"]["booking_id"], "b-1");
    let event = s.webhook().await;
    assert_eq!(event["type"], "payment_intent.succeeded");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["data"]["object"]["id"], intent["id"]);
    assert!(event["data"]["object"]["captured_at"].is_i64());
    let (status, now) = s
        .get(&format!(
            "/v1/payment_intents/{}",
            intent["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(now["status"], "succeeded");

    s.intent("k-2", 1200, "pm_card_declined").await;
    let event = s.webhook().await;
    assert_eq!(event["type"], "payment_intent.payment_failed");
    assert_eq!(event["data"]["object"]["failure_code"], "card_declined");
    s.sim.shutdown().await;
}

#[tokio::test]
async fn one_key_one_intent_and_other_parameters_are_an_idempotency_error() {
    let s = setup(fast()).await;
    let first = s.intent("same", 500, "pm_card_ok").await;
    let r = s
        .client
        .post(format!("{}/v1/payment_intents", s.sim.url()))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "same")
        .json(
            &json!({"amount": 500, "currency": "EUR", "payment_method": "pm_card_ok",
                      "metadata": {"booking_id": "b-1", "payment_id": "p-1"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let (status, body) = s
        .post(
            "/v1/payment_intents",
            Some("same"),
            json!({"amount": 501, "currency": "EUR", "payment_method": "pm_card_ok",
                   "metadata": {"booking_id": "b-1", "payment_id": "p-1"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("idempotency_error"))
    );
    let (status, body) = s
        .post("/v1/payment_intents", None, json!({"amount": 1}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "Idempotency-Key");
    let (status, body) = s
        .post(
            "/v1/payment_intents",
            Some("bad-card"),
            json!({"amount": 5, "currency": "EUR", "payment_method": "pm_card_stolen",
                   "metadata": {"booking_id": "b", "payment_id": "p"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("payment_method"))
    );

    // Concurrent retries of one key still make one intent.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = s.client.clone();
        let url = format!("{}/v1/payment_intents", s.sim.url());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(KEY)
                .header("Idempotency-Key", "racing")
                .json(
                    &json!({"amount": 9, "currency": "EUR", "payment_method": "pm_card_ok",
                              "metadata": {"booking_id": "b", "payment_id": "p"}}),
                )
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["id"].clone()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let (_, ledger) = s.get("/_sim/ledger").await;
    assert_eq!(ledger["totals"]["intents"], 2);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn the_api_key_is_required_everywhere() {
    let s = setup(fast()).await;
    for (method, path) in [
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/payment_intents/pi_1"),
        ("GET", "/_sim/ledger"),
        ("POST", "/_sim/knobs"),
    ] {
        for auth in [None, Some("Bearer sk_wrong"), Some("Bearer "), Some(KEY)] {
            let mut r = s
                .client
                .request(method.parse().unwrap(), format!("{}{path}", s.sim.url()));
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {path} with {auth:?}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["type"], "authentication_error");
        }
    }
    s.sim.shutdown().await;
}

#[tokio::test]
async fn refunds_are_bounded_by_the_capture_and_announced() {
    let mut s = setup(fast()).await;
    let intent = s.intent("pay", 1000, "pm_card_ok").await;
    let id = intent["id"].as_str().unwrap();
    // Not captured yet: nothing to refund.
    let (status, body) = s
        .post(
            "/v1/refunds",
            Some("r-early"),
            json!({"payment_intent": id, "amount": 10}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("payment_intent_unexpected_state"))
    );
    s.webhook().await;
    let (status, refund) = s
        .post(
            "/v1/refunds",
            Some("r-1"),
            json!({"payment_intent": id, "amount": 700}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(refund["id"].as_str().unwrap().starts_with("re_"));
    assert_eq!(refund["status"], "pending");
    let (status, body) = s
        .post(
            "/v1/refunds",
            Some("r-2"),
            json!({"payment_intent": id, "amount": 301}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("amount_too_large"))
    );
    let (_, same) = s
        .post(
            "/v1/refunds",
            Some("r-1"),
            json!({"payment_intent": id, "amount": 700}),
        )
        .await;
    assert_eq!(same["id"], refund["id"]);
    let event = s.webhook().await;
    assert_eq!(event["type"], "refund.succeeded");
    assert_eq!(event["data"]["object"]["id"], refund["id"]);
    let (_, ledger) = s.get("/_sim/ledger").await;
    assert_eq!(ledger["intents"][0]["captured"], 1000);
    assert_eq!(ledger["intents"][0]["refunded"], 700);
    assert_eq!(ledger["totals"]["refunds"], 1);
    let (status, _) = s
        .post(
            "/v1/refunds",
            Some("r-3"),
            json!({"payment_intent": "pi_nope", "amount": 1}),
        )
        .await;
    assert_eq!(status, 400);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn cancel_before_capture_cancels_and_after_it_answers_the_capture() {
    let mut s = setup(SimulatorKnobs {
        processing_ms: 300,
        ..SimulatorKnobs::default()
    })
    .await;
    let early = s.intent("early", 100, "pm_card_ok").await;
    let path = format!(
        "/v1/payment_intents/{}/cancel",
        early["id"].as_str().unwrap()
    );
    let (status, body) = s.post(&path, Some("c-1"), json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("canceled")));
    let event = s.webhook().await;
    assert_eq!(event["type"], "payment_intent.canceled");
    // Processing ends without a capture and without another webhook.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(s.hooks.try_recv().is_err());

    s.sim
        .update_knobs(&paysim::KnobsUpdate {
            processing_ms: Some(0),
            ..Default::default()
        })
        .unwrap();
    let late = s.intent("late", 100, "pm_card_ok").await;
    s.webhook().await;
    let path = format!(
        "/v1/payment_intents/{}/cancel",
        late["id"].as_str().unwrap()
    );
    let (status, body) = s.post(&path, Some("c-2"), json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("succeeded")));
    let (status, _) = s
        .post("/v1/payment_intents/pi_nope/cancel", Some("c-3"), json!({}))
        .await;
    assert_eq!(status, 404);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn knobs_slow_down_time_out_and_take_the_api_down() {
    let s = setup(fast()).await;
    let (status, view) = s
        .post("/_sim/knobs", None, json!({"latency_ms": 100}))
        .await;
    assert_eq!((status, view["latency_ms"].as_u64()), (200, Some(100)));
    let started = Instant::now();
    s.intent("slow", 1, "pm_card_ok").await;
    assert!(started.elapsed() >= Duration::from_millis(100));

    s.post(
        "/_sim/knobs",
        None,
        json!({"latency_ms": 0, "timeout_rate": 1.0}),
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let timed_out = client
        .post(format!("{}/v1/payment_intents", s.sim.url()))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "held")
        .json(
            &json!({"amount": 77, "currency": "EUR", "payment_method": "pm_card_ok",
                      "metadata": {"booking_id": "b", "payment_id": "p"}}),
        )
        .send()
        .await;
    assert!(timed_out.unwrap_err().is_timeout());
    let ledger = s.sim.ledger();
    assert_eq!(ledger.totals.intents, 2, "the held call took effect");
    assert!(ledger.intents.iter().any(|i| i.amount == 77));

    let (status, view) = s
        .post(
            "/_sim/knobs",
            None,
            json!({"timeout_rate": 0.0, "down": true}),
        )
        .await;
    assert_eq!((status, view["down"].as_bool()), (200, Some(true)));
    let (status, body) = s.get("/v1/payment_intents/pi_1").await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (503, Some("api_error"))
    );
    s.sim.set_down(false);
    let (status, _) = s.get("/v1/payment_intents/pi_1").await;
    assert_eq!(status, 404);
    s.sim.shutdown().await;
}

#[tokio::test]
async fn failure_rate_declines_about_that_share_of_visa_payments() {
    let mut s = setup(SimulatorKnobs {
        processing_ms: 0,
        failure_rate: 0.5,
        ..SimulatorKnobs::default()
    })
    .await;
    for n in 0..200 {
        s.intent(&format!("visa-{n}"), 100, "pm_card_visa").await;
    }
    let mut failed = 0;
    for _ in 0..200 {
        if s.webhook().await["type"] == "payment_intent.payment_failed" {
            failed += 1;
        }
    }
    // Binomial(200, 0.5): outside 60..=140 happens less than once in 10^7 runs.
    assert!((60..=140).contains(&failed), "{failed} of 200 declined");
    // pm_card_ok ignores the rate.
    s.sim
        .update_knobs(&paysim::KnobsUpdate {
            failure_rate: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    s.intent("ok", 100, "pm_card_ok").await;
    assert_eq!(s.webhook().await["type"], "payment_intent.succeeded");
    s.sim.shutdown().await;
}

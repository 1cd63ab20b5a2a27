//! Organizer webhooks end to end: a real HTTP receiver on port 0 checks every
//! delivery's signature, sees only its organization's events of the types it chose,
//! gets failed deliveries later, sees both secrets while one rotates, and receives a
//! due delivery exactly once across a restart.
use crate::on_both_backends;
use crate::support::{eventually, Backend, ShowSpec, TestApp, User};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use boxoffice::clock::Clock;
use boxoffice::config::{Config, WebhooksConfig};
use boxoffice::store::{DeliveryRecord, Page};
use boxoffice_domain::signature::{self, SignatureError};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// One request the receiver got, and what it answered.
#[derive(Clone, Debug)]
struct Hit {
    event_id: String,
    event_type: String,
    signature: String,
    body: Vec<u8>,
    answered: u16,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

#[derive(Default)]
struct Inbox {
    hits: Mutex<Vec<Hit>>,
    /// Requests answered 500 before answering 200.
    fail_first: AtomicUsize,
    /// Answer 500 to everything while set.
    down: AtomicBool,
}

/// An organizer's endpoint: an axum server on port 0 that records every request.
struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let inbox = Arc::new(Inbox::default());
        inbox.fail_first.store(fail_first, Ordering::SeqCst);
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inbox }
    }

    fn hits(&self) -> Vec<Hit> {
        self.inbox.hits.lock().clone()
    }

    /// Requests answered 2xx.
    fn delivered(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.answered))
            .collect()
    }

    async fn wait_delivered(&self, n: usize, what: &str) -> Vec<Hit> {
        eventually(WAIT, what, || async {
            let got = self.delivered();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let fail = inbox.down.load(Ordering::SeqCst)
        || inbox
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let answered = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    inbox.hits.lock().push(Hit {
        event_id: header("boxoffice-event-id"),
        event_type: header("boxoffice-event-type"),
        signature: header("boxoffice-signature"),
        body: body.to_vec(),
        answered: answered.as_u16(),
    });
    answered
}

fn now_secs(app: &TestApp) -> i64 {
    app.clock.now().millis() / 1000
}

/// Checks a hit's signature with `secret` alone at the app's time.
fn verify_with(app: &TestApp, hit: &Hit, secret: &str) -> Result<i64, SignatureError> {
    signature::verify(
        &hit.signature,
        &hit.body,
        &[secret.as_bytes()],
        now_secs(app),
        signature::DEFAULT_TOLERANCE_SECS,
    )
}

/// Registers an endpoint of `org`; its view and secret.
async fn register(
    app: &TestApp,
    who: &User,
    org: &str,
    url: &str,
    types: &[&str],
) -> (Value, String) {
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/webhooks"),
            Some(&app.token_for(who)),
            &json!({"url": url, "event_types": types, "description": "Test receiver"}),
        )
        .await;
    let body = r.expect(201).clone();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (body["webhook"].clone(), secret)
}

fn fast(c: &mut Config) {
    c.webhooks = WebhooksConfig {
        allow_http: true,
        allow_private_addresses: true,
        retry_base_ms: 50,
        retry_cap_ms: 200,
        poll_ms: 20,
        timeout_ms: 2_000,
        ..WebhooksConfig::default()
    };
}

async fn deliveries(app: &TestApp, who: &User, org: &str, webhook: &str) -> Value {
    app.get(
        &format!("/api/v1/organizations/{org}/webhooks/{webhook}/deliveries?per_page=100"),
        Some(&app.token_for(who)),
    )
    .await
    .expect(200)
    .clone()
}

async fn ping(app: &TestApp, who: &User, org: &str, webhook: &str) -> Value {
    app.post(
        &format!("/api/v1/organizations/{org}/webhooks/{webhook}/ping"),
        Some(&app.token_for(who)),
        &json!({}),
    )
    .await
    .expect(202)
    .clone()
}

async fn deliveries_are_signed_and_only_for_subscribed_types_of_own_shows(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    let ours = app.show_with(ShowSpec::default()).await;
    let theirs = app.show_with(ShowSpec::default()).await;
    let org = app.org_of(&ours.organizer).await;
    let their_org = app.org_of(&theirs.organizer).await;
    let receiver = Receiver::start(0).await;
    let other = Receiver::start(0).await;
    let (hook, secret) = register(
        &app,
        &ours.organizer,
        &org,
        &receiver.url,
        &["booking.reserved", "booking.confirmed"],
    )
    .await;
    assert_eq!(
        hook["event_types"],
        json!(["booking.reserved", "booking.confirmed"])
    );
    assert_eq!(hook["enabled"], true);
    assert!(hook.get("secret").is_none() && hook.get("secret_sealed").is_none());
    let (_, their_secret) = register(
        &app,
        &theirs.organizer,
        &their_org,
        &other.url,
        &["booking.reserved", "booking.confirmed", "booking.cancelled"],
    )
    .await;

    let buyer = app.buyer().await;
    let kept = app.hold(&buyer.token, &ours, 1).await;
    app.confirm(&buyer.token, &kept).await.expect(200);
    let dropped = app.hold(&buyer.token, &ours, 1).await;
    app.cancel(&buyer.token, &dropped).await.expect(200);
    let elsewhere = app.hold(&buyer.token, &theirs, 1).await;

    let got = receiver
        .wait_delivered(3, "three deliveries to our endpoint")
        .await;
    let theirs_got = other.wait_delivered(1, "their hold reaches them").await;
    // Anything else in flight would arrive within a few polls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = receiver.delivered();
    assert_eq!(got_now.len(), 3, "nothing more, nothing twice: {got:#?}");
    let mut seen: Vec<(String, String)> = Vec::new();
    for hit in &got_now {
        verify_with(&app, hit, &secret).expect("signed with the endpoint's secret");
        assert_eq!(
            verify_with(&app, hit, &their_secret),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(hit.signature.matches("v1=").count(), 1);
        let body = hit.json();
        assert_eq!(body["id"], hit.event_id.as_str());
        assert_eq!(body["type"], hit.event_type.as_str());
        assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(body["data"]["show_id"], ours.show_id.as_str());
        seen.push((
            hit.event_type.clone(),
            body["data"]["id"].as_str().unwrap().to_owned(),
        ));
    }
    seen.sort();
    let mut expected = vec![
        ("booking.confirmed".to_string(), kept.clone()),
        ("booking.reserved".to_string(), kept.clone()),
        ("booking.reserved".to_string(), dropped.clone()),
    ];
    expected.sort();
    assert_eq!(seen, expected, "no booking.cancelled: not subscribed");
    let theirs_now = other.delivered();
    assert_eq!(theirs_now.len(), 1, "{theirs_got:#?}");
    assert_eq!(theirs_now[0].json()["data"]["id"], elsewhere.as_str());
    verify_with(&app, &theirs_now[0], &their_secret).unwrap();

    let log = deliveries(&app, &ours.organizer, &org, hook["id"].as_str().unwrap()).await;
    assert_eq!(log["total"], 3);
    for d in log["items"].as_array().unwrap() {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_response_status"], 200);
        assert!(d["last_error"].is_null() && d["next_attempt_at"].is_null());
        assert!(d["delivered_at"].is_string());
    }
    app.stop().await;
}

async fn a_failing_receiver_gets_the_delivery_later_with_attempts_logged(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let receiver = Receiver::start(2).await;
    let (hook, secret) = register(&app, &owner, &org, &receiver.url, &["booking.confirmed"]).await;
    let hook_id = hook["id"].as_str().unwrap();
    let queued = ping(&app, &owner, &org, hook_id).await;
    assert_eq!(queued["event_type"], "webhook.ping");
    assert_eq!(queued["status"], "pending");
    let got = receiver
        .wait_delivered(1, "the third attempt succeeds")
        .await;
    assert_eq!(got[0].event_type, "webhook.ping");
    assert_eq!(got[0].json()["data"]["webhook_id"], hook_id);
    verify_with(&app, &got[0], &secret).unwrap();
    let hits = receiver.hits();
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    assert!(hits
        .iter()
        .all(|h| h.event_id == queued["event_id"].as_str().unwrap()));
    let d = eventually(WAIT, "the success is recorded", || async {
        let log = deliveries(&app, &owner, &org, hook_id).await;
        let d = log["items"][0].clone();
        (d["status"] == "delivered").then_some(d)
    })
    .await;
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_response_status"], 200);
    let detail = app
        .get(
            &format!(
                "/api/v1/organizations/{org}/webhooks/{hook_id}/deliveries/{}",
                d["id"].as_str().unwrap()
            ),
            Some(&app.token_for(&owner)),
        )
        .await;
    let detail = detail.expect(200);
    assert_eq!(detail["delivery"]["id"], d["id"]);
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (
                a["attempt"].as_u64().unwrap(),
                a["response_status"].as_u64().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(1, 500), (2, 500), (3, 200)]
    );
    assert_eq!(attempts[0]["error"], "answered 500");
    assert!(attempts[2]["error"].is_null());
    assert!(attempts
        .iter()
        .all(|a| a["duration_ms"].as_i64().unwrap() >= 0 && a["at"].is_string()));
    app.stop().await;
}

async fn a_delivery_past_its_max_age_fails_and_can_be_redelivered(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let receiver = Receiver::start(0).await;
    receiver.inbox.down.store(true, Ordering::SeqCst);
    let (hook, _) = register(&app, &owner, &org, &receiver.url, &["booking.confirmed"]).await;
    let hook_id = hook["id"].as_str().unwrap();
    ping(&app, &owner, &org, hook_id).await;
    eventually(WAIT, "a few failed attempts", || async {
        (receiver.hits().len() >= 2).then_some(())
    })
    .await;
    let log = deliveries(&app, &owner, &org, hook_id).await;
    assert_eq!(log["items"][0]["status"], "pending", "{log}");
    assert!(log["items"][0]["next_attempt_at"].is_string());
    // A day later the window has closed: the next attempt is the last.
    app.clock.advance_secs(24 * 3600 + 1);
    let failed = eventually(WAIT, "the delivery is given up", || async {
        let log = deliveries(&app, &owner, &org, hook_id).await;
        let d = log["items"][0].clone();
        (d["status"] == "failed").then_some(d)
    })
    .await;
    assert!(failed["next_attempt_at"].is_null());
    assert_eq!(failed["last_response_status"], 500);
    assert_eq!(failed["last_error"], "answered 500");
    let attempts_then = receiver.hits().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.hits().len(),
        attempts_then,
        "no attempt after giving up"
    );

    receiver.inbox.down.store(false, Ordering::SeqCst);
    let delivery = failed["id"].as_str().unwrap();
    let r = app
        .post(
            &format!(
                "/api/v1/organizations/{org}/webhooks/{hook_id}/deliveries/{delivery}/redeliver"
            ),
            Some(&app.token_for(&owner)),
            &json!({}),
        )
        .await;
    assert_eq!(r.expect(202)["status"], "pending");
    let got = receiver.wait_delivered(1, "the redelivery").await;
    assert_eq!(got[0].event_id, failed["event_id"].as_str().unwrap());
    let d = eventually(WAIT, "the redelivery is recorded", || async {
        let log = deliveries(&app, &owner, &org, hook_id).await;
        let d = log["items"][0].clone();
        (d["status"] == "delivered").then_some(d)
    })
    .await;
    assert_eq!(
        d["attempts"].as_u64().unwrap(),
        attempts_then as u64 + 1,
        "the log keeps counting"
    );
    // Another organization's delivery id is not found under this endpoint.
    let r = app
        .post(
            &format!(
                "/api/v1/organizations/{org}/webhooks/{hook_id}/deliveries/{}/redeliver",
                uuid::Uuid::now_v7()
            ),
            Some(&app.token_for(&owner)),
            &json!({}),
        )
        .await;
    r.expect_problem(404, "/problems/not-found");
    app.stop().await;
}

async fn rotation_signs_with_both_secrets_until_the_overlap_ends(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        fast(c);
        c.webhooks.secret_overlap_secs = 3600;
    })
    .await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let receiver = Receiver::start(0).await;
    let (hook, old) = register(&app, &owner, &org, &receiver.url, &["booking.confirmed"]).await;
    let hook_id = hook["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/webhooks/{hook_id}/rotate-secret"),
            Some(&app.token_for(&owner)),
            &json!({}),
        )
        .await;
    let rotated = r.expect(200).clone();
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["webhook"]["previous_secret_expires_at"].is_string());

    ping(&app, &owner, &org, hook_id).await;
    let during = receiver
        .wait_delivered(1, "a ping during the overlap")
        .await;
    assert_eq!(during[0].signature.matches("v1=").count(), 2);
    verify_with(&app, &during[0], &old).expect("the old secret still verifies");
    verify_with(&app, &during[0], &new).expect("the new secret verifies");

    app.clock.advance_secs(3601);
    let view = app
        .get(
            &format!("/api/v1/organizations/{org}/webhooks/{hook_id}"),
            Some(&app.token_for(&owner)),
        )
        .await;
    assert!(view.expect(200)["previous_secret_expires_at"].is_null());
    ping(&app, &owner, &org, hook_id).await;
    let after = receiver.wait_delivered(2, "a ping after the overlap").await;
    assert_eq!(after[1].signature.matches("v1=").count(), 1);
    verify_with(&app, &after[1], &new).expect("the new secret verifies");
    assert_eq!(
        verify_with(&app, &after[1], &old),
        Err(SignatureError::Mismatch),
        "the old secret no longer signs"
    );
    app.stop().await;
}

async fn other_organizations_and_buyers_cannot_see_or_change_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let outsider = app.organizer().await;
    let outsider_org = app.org_of(&outsider).await;
    let buyer = app.buyer().await;
    let door = app.buyer().await;
    app.join(&owner, &org, &door, "box_office").await;
    let (hook, _) = register(
        &app,
        &owner,
        &org,
        "http://127.0.0.1:9/hook",
        &["booking.confirmed"],
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap();
    let ours = format!("/api/v1/organizations/{org}/webhooks/{hook_id}");
    let through_theirs = format!("/api/v1/organizations/{outsider_org}/webhooks/{hook_id}");
    for who in [&outsider, &buyer, &door] {
        let token = app.token_for(who);
        for (method, path) in [
            (Method::GET, format!("/api/v1/organizations/{org}/webhooks")),
            (Method::GET, ours.clone()),
            (Method::PATCH, ours.clone()),
            (Method::DELETE, ours.clone()),
            (Method::POST, format!("{ours}/rotate-secret")),
            (Method::GET, format!("{ours}/deliveries")),
            (Method::POST, format!("{ours}/ping")),
        ] {
            let body = (method == Method::PATCH).then(|| json!({"enabled": false}));
            let r = app
                .send(method.clone(), &path, Some(&token), body.as_ref())
                .await;
            r.expect_problem(403, "/problems/forbidden");
        }
    }
    // Through the outsider's own organization, the endpoint does not exist.
    let token = app.token_for(&outsider);
    app.get(&through_theirs, Some(&token))
        .await
        .expect_problem(404, "/problems/not-found");
    app.send(
        Method::PATCH,
        &through_theirs,
        Some(&token),
        Some(&json!({"enabled": false})),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    app.delete(&through_theirs, Some(&token))
        .await
        .expect_problem(404, "/problems/not-found");
    let listed = app
        .get(
            &format!("/api/v1/organizations/{outsider_org}/webhooks"),
            Some(&token),
        )
        .await;
    assert_eq!(listed.expect(200), &json!([]));
    // Still there, unchanged, for its owner.
    let mine = app.get(&ours, Some(&app.token_for(&owner))).await;
    assert_eq!(mine.expect(200)["enabled"], true);
    app.stop().await;
}

async fn bad_input_names_the_field(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.webhooks.allow_http = false;
        c.webhooks.allow_private_addresses = false;
    })
    .await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let path = format!("/api/v1/organizations/{org}/webhooks");
    let token = app.token_for(&owner);
    for (body, field) in [
        (
            json!({"url": "ftp://hooks.example.com/x", "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": "http://hooks.example.com/x", "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@hooks.example.com/x", "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": format!("https://hooks.example.com/{}", "a".repeat(3000)), "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": "https://127.0.0.1:8443/x", "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": "https://[::1]/x", "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": "https://169.254.169.254/latest", "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": "https://localhost/x", "event_types": ["booking.confirmed"]}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "event_types": ["booking.exploded"]}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "event_types": []}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "event_types": ["webhook.ping"]}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "event_types": ["booking.confirmed"], "description": "a\nb"}),
            "description",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "event_types": "booking.confirmed"}),
            "event_types",
        ),
        (
            json!({"url": "https://hooks.example.com/x", "event_types": ["booking.confirmed"], "secret": "mine"}),
            "secret",
        ),
    ] {
        let r = app.post(&path, Some(&token), &body).await;
        r.expect_field_error(field);
    }
    let missing = app
        .post(
            &path,
            Some(&token),
            &json!({"url": "https://hooks.example.com/x"}),
        )
        .await;
    missing.expect_problem(422, "/problems/validation");
    assert!(missing.text.contains("event_types"), "{}", missing.text);
    let r = app
        .post(
            &path,
            Some(&token),
            &json!({"url": "https://hooks.example.com/x", "event_types": ["booking.confirmed"]}),
        )
        .await;
    let id = r.expect(201)["webhook"]["id"].as_str().unwrap().to_owned();
    let one = format!("{path}/{id}");
    for (body, field) in [
        (json!({"url": "http://hooks.example.com/x"}), "url"),
        (json!({"event_types": ["nope"]}), "event_types"),
        (json!({"enabled": "yes"}), "enabled"),
    ] {
        let r = app
            .send(Method::PATCH, &one, Some(&token), Some(&body))
            .await;
        r.expect_field_error(field);
    }
    let r = app
        .send(
            Method::PATCH,
            &one,
            Some(&token),
            Some(&json!({"event_types": ["booking.refunded", "payment.succeeded"], "enabled": false})),
        )
        .await;
    let changed = r.expect(200);
    assert_eq!(
        changed["event_types"],
        json!(["booking.refunded", "payment.succeeded"])
    );
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["url"], "https://hooks.example.com/x");
    app.get(&format!("{path}/not-a-uuid"), Some(&token))
        .await
        .expect_problem(400, "/problems/malformed-request");
    app.get(&format!("{path}/{}", uuid::Uuid::now_v7()), Some(&token))
        .await
        .expect_problem(404, "/problems/not-found");
    app.stop().await;
}

/// `boxoffice admin rotate-key` re-seals endpoint secrets (current and previous), and
/// the running server keeps signing with the same secrets.
async fn rotate_key_reseals_webhook_secrets(backend: Backend) {
    let app = TestApp::spawn_with(backend, fast).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let receiver = Receiver::start(0).await;
    let (hook, old) = register(&app, &owner, &org, &receiver.url, &["booking.confirmed"]).await;
    let hook_id = hook["id"].as_str().unwrap();
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/webhooks/{hook_id}/rotate-secret"),
            Some(&app.token_for(&owner)),
            &json!({}),
        )
        .await;
    let new = r.expect(200)["secret"].as_str().unwrap().to_owned();
    let id = hook_id.parse().unwrap();
    let sealed = app.state.store.webhook(id).await.unwrap();
    assert!(sealed.secret_sealed.starts_with("v1:"), "sealed, not clear");
    assert!(!sealed.secret_sealed.contains(&new[6..]));
    assert!(sealed
        .previous_secret_sealed
        .as_deref()
        .unwrap()
        .starts_with("v1:"));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .args(["admin", "rotate-key"])
        .env("BOXOFFICE_DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("2 values sealed under key v2 (new)"), "{out}");
    let resealed = app.state.store.webhook(id).await.unwrap();
    assert!(resealed.secret_sealed.starts_with("v2:"));
    assert!(resealed
        .previous_secret_sealed
        .as_deref()
        .unwrap()
        .starts_with("v2:"));

    ping(&app, &owner, &org, hook_id).await;
    let got = receiver
        .wait_delivered(1, "a ping after the key rotation")
        .await;
    verify_with(&app, &got[0], &new).expect("the same secret signs");
    verify_with(&app, &got[0], &old).expect("the previous one too, while it overlaps");
    app.stop().await;
}

/// An endpoint registered while local addresses were allowed is not called once
/// they are not (names are checked again when they resolve: see the dispatcher's
/// unit tests).
async fn local_endpoints_are_not_called_when_refused(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, fast).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let receiver = Receiver::start(0).await;
    let url = receiver.url.replace("127.0.0.1", "localhost");
    let (hook, _) = register(&app, &owner, &org, &url, &["booking.confirmed"]).await;
    let hook_id = hook["id"].as_str().unwrap();
    ping(&app, &owner, &org, hook_id).await;
    receiver.wait_delivered(1, "allowed: delivered").await;

    app.restart_with(|c| {
        fast(c);
        c.webhooks.allow_private_addresses = false;
    })
    .await;
    let queued = ping(&app, &owner, &org, hook_id).await;
    let failed = eventually(WAIT, "the attempt is refused", || async {
        let log = deliveries(&app, &owner, &org, hook_id).await;
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == queued["id"] && d["attempts"].as_u64().unwrap_or(0) >= 1)
            .cloned()
    })
    .await;
    assert_eq!(failed["status"], "pending", "retried later: {failed}");
    assert!(failed["last_response_status"].is_null(), "{failed}");
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .starts_with("refused"),
        "{failed}"
    );
    assert_eq!(receiver.hits().len(), 1, "only the first ping arrived");
    app.stop().await;
}

async fn a_restart_neither_loses_nor_double_sends_a_due_delivery(backend: Backend) {
    let slow_retry = |c: &mut Config| {
        fast(c);
        // The retry after the first failure comes after the restart.
        c.webhooks.retry_base_ms = 1_500;
        c.webhooks.retry_cap_ms = 1_500;
    };
    let mut app = TestApp::spawn_with(backend, slow_retry).await;
    let show = app.show_with(ShowSpec::default()).await;
    let org = app.org_of(&show.organizer).await;
    let receiver = Receiver::start(0).await;
    let (hook, secret) = register(
        &app,
        &show.organizer,
        &org,
        &receiver.url,
        &["booking.reserved", "booking.confirmed"],
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let buyer = app.buyer().await;
    let booking = app.hold(&buyer.token, &show, 1).await;
    receiver.wait_delivered(1, "the hold is delivered").await;

    // The confirmation fails and is still due when the app restarts.
    receiver.inbox.down.store(true, Ordering::SeqCst);
    app.confirm(&buyer.token, &booking).await.expect(200);
    eventually(WAIT, "the first attempt fails", || async {
        receiver
            .hits()
            .iter()
            .any(|h| h.answered == 500)
            .then_some(())
    })
    .await;
    app.restart_with(slow_retry).await;
    receiver.inbox.down.store(false, Ordering::SeqCst);
    let got = receiver
        .wait_delivered(2, "the confirmation after the restart")
        .await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let delivered = receiver.delivered();
    assert_eq!(delivered.len(), 2, "each event once: {got:#?}");
    assert_ne!(delivered[0].event_id, delivered[1].event_id);
    let mut types: Vec<&str> = delivered.iter().map(|h| h.event_type.as_str()).collect();
    types.sort();
    assert_eq!(types, ["booking.confirmed", "booking.reserved"]);
    for hit in &delivered {
        verify_with(&app, hit, &secret).unwrap();
    }
    assert!(receiver.hits().len() >= 3, "at least one failure before");

    // A replay of the whole outbox (the offset lost) queues nothing twice.
    let store = &app.state.store;
    let events = app.outbox().await;
    let show_events: Vec<_> = events
        .iter()
        .filter(|e| e.aggregate_id == booking)
        .cloned()
        .collect();
    assert_eq!(show_events.len(), 2);
    let log = deliveries(&app, &show.organizer, &org, &hook_id).await;
    assert_eq!(log["total"], 2);
    let existing = store
        .deliveries_of(
            hook_id.parse().unwrap(),
            Page {
                page: 1,
                per_page: 10,
            },
        )
        .await
        .unwrap()
        .0;
    let again: Vec<_> = existing
        .iter()
        .map(|d| DeliveryRecord {
            id: boxoffice_domain::ids::DeliveryId::new(),
            ..d.clone()
        })
        .collect();
    assert_eq!(store.insert_deliveries(&again).await.unwrap(), 0);
    app.stop().await;
}

/// Deliveries per second from the store to a local receiver (run on demand:
/// `cargo nextest run -p boxoffice --run-ignored only -E 'test(webhook_throughput)'
/// --no-capture`; `BOXOFFICE_WEBHOOK_BENCH_N` sets the count, 5000 by default).
async fn webhook_throughput(backend: Backend) {
    let n: usize = std::env::var("BOXOFFICE_WEBHOOK_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let app = TestApp::spawn_with(backend, fast).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let receiver = Receiver::start(0).await;
    let (hook, _) = register(&app, &owner, &org, &receiver.url, &["booking.confirmed"]).await;
    let endpoint = hook["id"].as_str().unwrap().parse().unwrap();
    let now = app.clock.now();
    let batch: Vec<DeliveryRecord> = (0..n)
        .map(|i| DeliveryRecord {
            id: boxoffice_domain::ids::DeliveryId::new(),
            endpoint_id: endpoint,
            event_id: format!("bench-{i}"),
            event_type: "booking.confirmed".into(),
            payload: json!({"show_id": "bench", "n": i}),
            event_created_at: now,
            status: boxoffice::store::DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            first_attempt_at: None,
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
            created_at: now,
        })
        .collect();
    let started = std::time::Instant::now();
    assert_eq!(
        app.state.store.insert_deliveries(&batch).await.unwrap(),
        n as u64
    );
    eventually(Duration::from_secs(600), "every delivery", || async {
        (receiver.delivered().len() >= n).then_some(())
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "webhook throughput ({backend:?}, concurrency {}): {n} deliveries in {secs:.2} s = {:.0}/s",
        WebhooksConfig::default().concurrency,
        n as f64 / secs
    );
    app.stop().await;
}

mod webhook_throughput {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, run on demand"]
    async fn sqlite() {
        super::webhook_throughput(crate::support::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, run on demand"]
    async fn postgres() {
        super::webhook_throughput(crate::support::Backend::Postgres).await
    }
}

on_both_backends!(
    deliveries_are_signed_and_only_for_subscribed_types_of_own_shows,
    a_failing_receiver_gets_the_delivery_later_with_attempts_logged,
    a_delivery_past_its_max_age_fails_and_can_be_redelivered,
    rotation_signs_with_both_secrets_until_the_overlap_ends,
    other_organizations_and_buyers_cannot_see_or_change_endpoints,
    bad_input_names_the_field,
    local_endpoints_are_not_called_when_refused,
    rotate_key_reseals_webhook_secrets,
    a_restart_neither_loses_nor_double_sends_a_due_delivery,
);

//! The outbox relayed to NATS JetStream (a `nats-server -js` of the test's own): every
//! event arrives once on `boxoffice.<event type>` with the outbox id as message id and
//! the request's trace, in spite of NATS being killed and restarted while events are
//! written; an outside consumer reads them on a durable pull consumer with explicit
//! acknowledgements, and so do the platform's own consumers: each event past the
//! hand-over from the table exactly once, a failed one parked and retried.
use crate::on_both_backends;
use crate::support::{Backend, NatsServer, ShowSpec, TestApp};
use async_nats::jetstream;
use async_trait::async_trait;
use boxoffice::outbox::{EventFailure, FollowSettings, OutboxConsumer, OutboxHandler};
use boxoffice::store::OutboxEvent;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Every message of the stream: outbox id → (subject, traceparent, body).
pub(crate) async fn stream_messages(
    url: &str,
) -> HashMap<String, (String, Option<String>, serde_json::Value)> {
    let client = async_nats::connect(url).await.expect("NATS answers");
    let js = jetstream::new(client);
    let mut stream = js.get_stream("BOXOFFICE").await.expect("the stream exists");
    let count = stream.info().await.expect("stream info").state.messages;
    let mut out = HashMap::new();
    for seq in 1..=count {
        let m = stream.get_raw_message(seq).await.expect("a message");
        let id = m
            .headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .expect("a message id")
            .to_string();
        let trace = m.headers.get("traceparent").map(|v| v.to_string());
        let body = serde_json::from_slice(&m.payload).expect("JSON");
        assert!(
            out.insert(id.clone(), (m.subject.to_string(), trace, body))
                .is_none(),
            "event {id} published twice"
        );
    }
    out
}

/// Waits until the stream holds every outbox event; returns the messages.
async fn until_relayed(
    app: &TestApp,
    nats: &NatsServer,
) -> HashMap<String, (String, Option<String>, serde_json::Value)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let want: HashSet<String> = app.outbox().await.into_iter().map(|e| e.id).collect();
        if let Ok(Ok(got)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::spawn({
                let url = nats.url();
                async move { stream_messages(&url).await }
            }),
        )
        .await
        {
            let ids: HashSet<String> = got.keys().cloned().collect();
            if ids == want {
                return got;
            }
            assert!(ids.is_subset(&want), "only outbox events are published");
        }
        assert!(Instant::now() < deadline, "every event relayed within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `event_stream` check of a ready (200) answer.
async fn stream_check(app: &TestApp) -> String {
    let r = app.get("/health/ready", None).await;
    let body = r.expect(200);
    let check = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "event_stream")
        .unwrap_or_else(|| panic!("readiness lists the event stream: {body}"));
    assert_eq!(check["required"], false);
    check["status"].as_str().expect("a status").to_owned()
}

async fn events_reach_jetstream_once_each_across_a_nats_restart(backend: Backend) {
    let mut nats = NatsServer::start();
    let url = nats.url();
    let app = TestApp::spawn_with(backend, |c| {
        c.nats_url = Some(boxoffice::config::SecretUrl::new(url.clone()));
        c.outbox_retry_base_ms = 100;
        c.outbox_retry_cap_ms = 1_000;
        c.outbox_retry_attempts = 50;
    })
    .await;
    let show = app
        .show_with(ShowSpec {
            capacity: 50,
            per_user_limit: Some(20),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(app.hold(&buyer.token, &show, 1).await);
    }
    app.confirm(&buyer.token, &held[0]).await.expect(200);
    let traced = app
        .client
        .post(app.url("/api/v1/bookings/reserve"))
        .bearer_auth(&buyer.token)
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&serde_json::json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 1}))
        .send()
        .await
        .expect("answered");
    assert_eq!(traced.status(), 201);
    let first = until_relayed(&app, &nats).await;
    for e in app.outbox().await {
        let (subject, _, body) = &first[&e.id];
        assert_eq!(subject, &format!("boxoffice.{}", e.event_type));
        assert_eq!(body["type"], e.event_type.as_str());
        assert_eq!(body["aggregate_id"], e.aggregate_id.as_str());
        assert_eq!(body["payload"], e.payload);
    }
    assert!(
        first.values().any(
            |(subject, trace, _)| subject == "boxoffice.booking.reserved"
                && trace
                    .as_deref()
                    .is_some_and(|t| t.contains("0af7651916cd43dd8448eb211c80319c"))
        ),
        "the caller's trace travels with its event"
    );

    assert_eq!(stream_check(&app).await, "up");
    // NATS dies while events are written, and comes back on the same data. Readiness
    // says so without failing: the events wait in the outbox.
    nats.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stream_check(&app).await != "down" {
        assert!(Instant::now() < deadline, "readiness sees NATS gone");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..4 {
        held.push(app.hold(&buyer.token, &show, 1).await);
    }
    app.cancel(&buyer.token, &held[1]).await.expect(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    nats.restart();
    let all = until_relayed(&app, &nats).await;
    assert!(all.len() > first.len());

    // An outside consumer: a durable pull consumer, each message acknowledged.
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("NATS"));
    let stream = js.get_stream("BOXOFFICE").await.expect("stream");
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("box-office-report".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await
        .expect("a durable consumer");
    let mut batch = consumer
        .fetch()
        .max_messages(all.len())
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("a batch");
    let mut read = HashSet::new();
    while let Some(m) = batch.next().await {
        let m = m.expect("a message");
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID));
        read.insert(id.expect("a message id").to_string());
        m.ack().await.expect("acknowledged");
    }
    assert_eq!(read, all.keys().cloned().collect::<HashSet<_>>());
    app.stop().await;
}

on_both_backends!(events_reach_jetstream_once_each_across_a_nats_restart);

/// Records what it handles; refuses each `booking.cancelled` event the first time.
#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<(i64, String)>>,
    refused: Mutex<HashSet<String>>,
}

#[async_trait]
impl OutboxHandler for Recorder {
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        let mut failures = Vec::new();
        for (index, e) in events.iter().enumerate() {
            if e.event_type == "booking.cancelled"
                && self.refused.lock().unwrap().insert(e.id.clone())
            {
                failures.push(EventFailure {
                    index,
                    error: anyhow::anyhow!("refused once"),
                });
                continue;
            }
            self.handled.lock().unwrap().push((e.seq, e.id.clone()));
        }
        Ok(failures)
    }
}

impl Recorder {
    /// Waits until every outbox event after `from` was handled; what was handled.
    async fn until_handled(&self, app: &TestApp, from: i64) -> Vec<(i64, String)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let want: HashSet<String> = app
                .outbox()
                .await
                .into_iter()
                .filter(|e| e.seq > from)
                .map(|e| e.id)
                .collect();
            let got = self.handled.lock().unwrap().clone();
            let extra = got.iter().find(|(_, id)| !want.contains(id));
            assert!(
                extra.is_none(),
                "handled at or before the hand-over: {extra:?}"
            );
            if got.iter().map(|(_, id)| id.clone()).collect::<HashSet<_>>() == want {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "every event after {from} handled within 60 s: {} of {}",
                got.len(),
                want.len()
            );
            // Parked events come due on the test's clock.
            app.clock.advance_secs(2);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Each outbox id appears once in `handled`, and none at or before `handover`.
fn once_each_after(handled: &[(i64, String)], handover: i64) {
    let mut ids = HashSet::new();
    for (seq, id) in handled {
        assert!(
            *seq > handover,
            "event {seq} was handled before the hand-over"
        );
        assert!(ids.insert(id.clone()), "event {id} handled twice");
    }
}

async fn consumers_read_the_stream_from_their_hand_over_across_a_nats_restart(backend: Backend) {
    let mut nats = NatsServer::start();
    let url = nats.url();
    let app = TestApp::spawn_with(backend, |c| {
        c.nats_url = Some(boxoffice::config::SecretUrl::new(url.clone()));
        c.outbox_poll_ms = 100;
        c.outbox_retry_base_ms = 100;
        c.outbox_retry_cap_ms = 1_000;
        c.outbox_retry_attempts = 50;
    })
    .await;
    let show = app
        .show_with(ShowSpec {
            capacity: 50,
            per_user_limit: Some(30),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    for _ in 0..3 {
        app.hold(&buyer.token, &show, 1).await;
    }
    until_relayed(&app, &nats).await;
    // A consumer that has read the table up to here moves to the stream.
    let store = app.state.store.clone();
    let handover = app.outbox().await.last().expect("events").seq;
    store
        .save_consumer_offset("probe", handover)
        .await
        .expect("offset saved");
    let recorder = Arc::new(Recorder::default());
    let consumer = Arc::new(OutboxConsumer::new(
        "probe",
        store.clone(),
        recorder.clone(),
        app.clock.clone(),
        boxoffice::outbox::ConsumerSettings {
            batch: 16,
            gap_grace: Duration::from_secs(1),
            backoff: app.state.config.outbox_backoff(),
        },
    ));
    let follower = app
        .state
        .event_stream
        .as_ref()
        .expect("an event stream")
        .follower(FollowSettings {
            store: store.clone(),
            batch: 16,
            poll: Duration::from_millis(100),
            ack_wait: Duration::from_secs(30),
        });
    let stop = CancellationToken::new();
    let following = tokio::spawn(follower.run(consumer, stop.clone()));

    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(app.hold(&buyer.token, &show, 1).await);
    }
    app.cancel(&buyer.token, &held[0]).await.expect(200);
    let first = recorder.until_handled(&app, handover).await;
    once_each_after(&first, handover);
    assert!(
        !recorder.refused.lock().unwrap().is_empty(),
        "the cancellation was refused once, parked and handled on a retry"
    );

    // NATS dies while events are written and comes back on the same data.
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.kill();
    for _ in 0..3 {
        held.push(app.hold(&buyer.token, &show, 1).await);
    }
    app.cancel(&buyer.token, &held[1]).await.expect(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    nats.restart();
    let all = recorder.until_handled(&app, handover).await;
    once_each_after(&all, handover);
    assert!(all.len() > first.len());
    let top = app.outbox().await.last().expect("events").seq;
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.consumer_offset("probe").await.expect("offset") != top {
        assert!(Instant::now() < deadline, "the offset follows the stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store
            .consumer_offset("probe@jetstream")
            .await
            .expect("hand-over"),
        handover
    );
    stop.cancel();
    following.await.expect("the follower stops");

    // The built-in consumers are on durables of their own and keep up.
    let js = jetstream::new(async_nats::connect(nats.url()).await.expect("NATS"));
    let stream = js.get_stream("BOXOFFICE").await.expect("stream");
    for name in ["audit", "notifications", "webhooks", "tickets"] {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = stream.consumer_info(name).await.expect("a durable");
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{name} keeps up: {info:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    app.stop().await;
}

on_both_backends!(consumers_read_the_stream_from_their_hand_over_across_a_nats_restart);

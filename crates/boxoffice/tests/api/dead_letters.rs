//! Retries and dead letters end to end: a consumer whose handler fails while a flag
//! is set retries with backoff, ends in a dead letter carrying the error, the
//! consumer moves on, admins list it through the API and the CLI, a replay fails
//! while the handler still fails and succeeds once it is fixed; discarding and
//! retention of the outbox (never past the slowest consumer) too.
use crate::on_both_backends;
use crate::support::{eventually, Backend, ShowSpec, TestApp, TestDb};
use async_trait::async_trait;
use boxoffice::clock::Clock;
use boxoffice::outbox::{EventFailure, OutboxHandler};
use boxoffice::store::OutboxEvent;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::Command;

/// Fails every event while `failing` is set, like a downstream that is down; records
/// the ids of the events it handled.
#[derive(Default)]
pub(crate) struct Downstream {
    pub(crate) failing: AtomicBool,
    handled: Mutex<Vec<String>>,
}

#[async_trait]
impl OutboxHandler for Downstream {
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        let mut failures = Vec::new();
        for (index, e) in events.iter().enumerate() {
            if self.failing.load(Ordering::SeqCst) {
                failures.push(EventFailure {
                    index,
                    error: anyhow::anyhow!("downstream unavailable (connection refused)"),
                });
            } else {
                self.handled.lock().unwrap().push(e.id.clone());
            }
        }
        Ok(failures)
    }
}

impl Downstream {
    fn handled(&self) -> Vec<String> {
        self.handled.lock().unwrap().clone()
    }
}

pub(crate) async fn app_with(backend: Backend, downstream: Arc<Downstream>) -> TestApp {
    TestApp::spawn_custom(
        backend,
        |c| {
            c.outbox_retry_attempts = 3;
            c.outbox_retry_base_ms = 0;
            c.outbox_retry_cap_ms = 0;
            c.outbox_poll_ms = 20;
        },
        move |app| app.add_consumer("downstream", downstream),
    )
    .await
}

fn binary(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    for (key, _) in std::env::vars() {
        if key.starts_with("BOXOFFICE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("BOXOFFICE_DATABASE_URL", &db.url)
        .env("BOXOFFICE_DEMO_DATA", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn cli(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = binary(db)
        .args(["admin", "dead-letters"])
        .args(args)
        .output()
        .await
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

on_both_backends!(a_failing_handler_ends_in_a_dead_letter_that_replays_once_fixed);
async fn a_failing_handler_ends_in_a_dead_letter_that_replays_once_fixed(backend: Backend) {
    let downstream = Arc::new(Downstream::default());
    downstream.failing.store(true, Ordering::SeqCst);
    let app = app_with(backend, downstream.clone()).await;
    let admin = app.admin().await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let booking = app.hold(&buyer.token, &show, 1).await;
    let list = "/api/v1/admin/dead-letters?consumer=downstream";
    let letters = eventually(Duration::from_secs(20), "a dead letter", || async {
        let r = app.get(list, Some(&admin.token)).await;
        let items = r.expect(200)["items"].as_array().unwrap().clone();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter["consumer"], "downstream");
    assert_eq!(letter["status"], "open");
    assert_eq!(
        letter["attempts"], 3,
        "the configured attempts, then given up"
    );
    assert_eq!(letter["event"]["event_type"], "booking.reserved");
    assert_eq!(letter["event"]["aggregate_id"], booking.as_str());
    assert_eq!(letter["event"]["payload"]["quantity"], 1);
    assert!(
        letter["last_error"]
            .as_str()
            .unwrap()
            .contains("downstream unavailable"),
        "{letter}"
    );
    assert!(letter["resolved_at"].is_null());
    let id = letter["id"].as_str().unwrap().to_owned();
    let seq = letter["event"]["seq"].as_i64().unwrap();
    assert!(
        app.state.store.consumer_offset("downstream").await.unwrap() >= seq,
        "the consumer moved past the event"
    );
    assert!(downstream.handled().is_empty());

    // Other consumers were not held back, and the filters apply.
    let other = app
        .get(
            "/api/v1/admin/dead-letters?consumer=audit",
            Some(&admin.token),
        )
        .await;
    assert_eq!(other.expect(200)["total"], 0);
    let open = app
        .get("/api/v1/admin/dead-letters?status=open", Some(&admin.token))
        .await;
    assert_eq!(open.expect(200)["total"], 1);
    app.get("/api/v1/admin/dead-letters?status=lost", Some(&admin.token))
        .await
        .expect_field_error("status");

    // The CLI lists and shows it, against the database.
    let (ok, out, err) = cli(&app.db, &["list", "--consumer", "downstream"]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&id) && out.contains("booking.reserved"),
        "{out}"
    );
    assert!(out.contains("1 of 1 letters"), "{out}");
    let (ok, out, err) = cli(&app.db, &["show", &id]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("downstream unavailable"), "{out}");

    // A replay while the downstream still fails keeps it open with the new error.
    let r = app
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/replay"),
            Some(&admin.token),
            &serde_json::json!({}),
        )
        .await;
    let replayed = r.expect(200).clone();
    assert_eq!(replayed["status"], "open");
    assert_eq!(replayed["attempts"], 4);
    assert!(downstream.handled().is_empty());

    // Fixed: the replay runs the handler on the event and resolves the letter.
    downstream.failing.store(false, Ordering::SeqCst);
    let r = app
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/replay"),
            Some(&admin.token),
            &serde_json::json!({}),
        )
        .await;
    let replayed = r.expect(200).clone();
    assert_eq!(replayed["status"], "replayed");
    assert!(replayed["resolved_at"].is_string());
    assert_eq!(
        downstream.handled(),
        vec![letter["event"]["id"].as_str().unwrap().to_owned()]
    );
    let again = app
        .post(
            &format!("/api/v1/admin/dead-letters/{id}/replay"),
            Some(&admin.token),
            &serde_json::json!({}),
        )
        .await;
    again.expect_problem(409, "/problems/invalid-state");
    let shown = app
        .get(
            &format!("/api/v1/admin/dead-letters/{id}"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(shown.expect(200)["status"], "replayed");

    // Healthy again, new events flow straight through.
    let second = app.hold(&buyer.token, &show, 1).await;
    eventually(
        Duration::from_secs(10),
        "the next event handled",
        || async {
            let ids = downstream.handled();
            (ids.len() == 2).then_some(())
        },
    )
    .await;
    assert_eq!(app.events_of(&second).await, ["booking.reserved"]);

    // A second letter, discarded through the CLI; the CLI cannot replay a consumer
    // that only this server runs, and says so.
    downstream.failing.store(true, Ordering::SeqCst);
    app.hold(&buyer.token, &show, 1).await;
    let letter = eventually(Duration::from_secs(20), "a second dead letter", || async {
        let r = app
            .get(&format!("{list}&status=open"), Some(&admin.token))
            .await;
        r.expect(200)["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await;
    let (ok, _, err) = cli(&app.db, &["replay", &letter]).await;
    assert!(!ok);
    assert!(err.contains("no consumer named downstream"), "{err}");
    let (ok, out, err) = cli(&app.db, &["discard", &letter]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("discarded"), "{out}");
    let discarded = app
        .get(
            &format!("/api/v1/admin/dead-letters/{letter}"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(discarded.expect(200)["status"], "discarded");
    app.post(
        &format!("/api/v1/admin/dead-letters/{letter}/discard"),
        Some(&admin.token),
        &serde_json::json!({}),
    )
    .await
    .expect_problem(409, "/problems/invalid-state");
    app.get(
        &format!("/api/v1/admin/dead-letters/{}", uuid::Uuid::new_v4()),
        Some(&admin.token),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    app.stop().await;
}

on_both_backends!(attempts_survive_a_restart);
async fn attempts_survive_a_restart(backend: Backend) {
    // Backoff long enough that no retry runs before the restart.
    let downstream = Arc::new(Downstream::default());
    downstream.failing.store(true, Ordering::SeqCst);
    let app = TestApp::spawn_custom(
        backend,
        |c| {
            c.outbox_retry_attempts = 5;
            c.outbox_retry_base_ms = 3_600_000;
            c.outbox_retry_cap_ms = 3_600_000;
        },
        {
            let d = downstream.clone();
            move |app| app.add_consumer("downstream", d)
        },
    )
    .await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    app.hold(&buyer.token, &show, 1).await;
    let event = app.outbox().await.pop().unwrap();
    let retry = eventually(Duration::from_secs(10), "a parked retry", || async {
        app.state
            .store
            .retry_of("downstream", &event.id)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(retry.attempts, 1);
    assert!(retry.last_error.contains("downstream unavailable"));
    assert!(retry.next_attempt_at >= retry.last_failed_at);
    assert_eq!(
        retry.event.payload["quantity"], 1,
        "the retry keeps a copy of the event"
    );
    let mut app = app;
    app.restart().await;
    let kept = app
        .state
        .store
        .retry_of("downstream", &event.id)
        .await
        .unwrap()
        .expect("the parked retry outlives the process");
    assert_eq!(kept.attempts, 1, "the count is stored, not recomputed");
    let due_later = app
        .state
        .store
        .due_retries("downstream", app.clock.now().plus_secs(2 * 3600), 10)
        .await
        .unwrap();
    assert_eq!(due_later.len(), 1, "due once its backoff has passed");
    app.stop().await;
}

/// Refuses a whole batch when any event in it is for three tickets, like a bulk
/// write that one bad row fails.
#[derive(Default)]
struct AllOrNothing {
    handled: Mutex<Vec<i64>>,
}

#[async_trait]
impl OutboxHandler for AllOrNothing {
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        if events.iter().any(|e| e.payload["quantity"] == 3) {
            anyhow::bail!("the batch was refused: a row breaks a rule");
        }
        let mut handled = self.handled.lock().unwrap();
        handled.extend(
            events
                .iter()
                .map(|e| e.payload["quantity"].as_i64().unwrap()),
        );
        Ok(Vec::new())
    }
}

on_both_backends!(a_batch_that_fails_whole_is_split_to_isolate_the_bad_event);
async fn a_batch_that_fails_whole_is_split_to_isolate_the_bad_event(backend: Backend) {
    let handler = Arc::new(AllOrNothing::default());
    let app = TestApp::spawn_custom(
        backend,
        |c| {
            c.outbox_retry_attempts = 2;
            c.outbox_retry_base_ms = 0;
            c.outbox_retry_cap_ms = 0;
        },
        {
            let h = handler.clone();
            move |app| app.add_consumer("all-or-nothing", h)
        },
    )
    .await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let bookings = [
        app.hold(&buyer.token, &show, 1).await,
        app.hold(&buyer.token, &show, 3).await,
        app.hold(&buyer.token, &show, 2).await,
    ];
    let admin = app.admin().await;
    let letter = eventually(
        Duration::from_secs(20),
        "the bad event's dead letter",
        || async {
            let r = app
                .get(
                    "/api/v1/admin/dead-letters?consumer=all-or-nothing",
                    Some(&admin.token),
                )
                .await;
            r.expect(200)["items"].as_array().unwrap().first().cloned()
        },
    )
    .await;
    assert_eq!(letter["event"]["aggregate_id"], bookings[1].as_str());
    assert_eq!(letter["attempts"], 2);
    assert!(letter["last_error"]
        .as_str()
        .unwrap()
        .contains("a row breaks a rule"));
    let mut handled = handler.handled.lock().unwrap().clone();
    handled.sort();
    assert_eq!(handled, [1, 2], "the good events went through");
    app.stop().await;
}

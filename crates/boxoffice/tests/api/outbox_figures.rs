//! Figures of the outbox for `docs/benchmarks.md`, ignored by default because they
//! time things rather than check them:
//!
//! - consumer throughput: the outbox is filled with N booking events, then a
//!   consumer catches up from offset 0, once with a handler that does nothing (the
//!   consumer's own cost: reads and offset saves) and once with the audit projection
//!   (a real handler writing one row per event);
//! - commit-to-email latency: a buyer confirms bookings one at a time against the
//!   real application with SMTP delivery to the test sink; each sample runs from the
//!   confirm's answer (its commit is done by then) to the notification being marked
//!   `sent` (the email handed to the mail sender, which passes it to the transport at
//!   once; polled every millisecond) and to the message reaching the sink.
//!
//! Rerun: `cargo nextest run -p boxoffice --run-ignored only -E 'test(outbox_figures)'
//! --no-capture` (BOXOFFICE_FIGURES_EVENTS and BOXOFFICE_FIGURES_SAMPLES resize them).
use crate::smtp::SmtpSink;
use crate::support::{Backend, ShowSpec, TestApp, TestDb};
use async_trait::async_trait;
use boxoffice::audit::BookingAuditProjection;
use boxoffice::config::{MailTransport, SecretUrl};
use boxoffice::outbox::{Backoff, ConsumerSettings, EventFailure, OutboxConsumer, OutboxHandler};
use boxoffice::store::{DynStore, OutboxEvent, SqlStore};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Nothing;

#[async_trait]
impl OutboxHandler for Nothing {
    async fn handle(&self, _: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        Ok(Vec::new())
    }
}

pub(crate) async fn fill(url: &str, events: usize) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let now = boxoffice_domain::Timestamp::now().millis();
    for chunk in (0..events).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|_| {
                let id = uuid::Uuid::now_v7();
                let payload = serde_json::json!({"id": id, "user_id": uuid::Uuid::now_v7(),
                    "show_id": uuid::Uuid::now_v7(), "zone_id": uuid::Uuid::now_v7(), "quantity": 2});
                format!("('{id}', 'booking.reserved', '{id}', '{payload}', {now})")
            })
            .collect();
        sqlx::query(&format!(
            "INSERT INTO outbox (id, event_type, aggregate_id, payload, created_at) VALUES {}",
            rows.join(", ")
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

async fn throughput(backend: Backend) {
    let events = env_or("BOXOFFICE_FIGURES_EVENTS", 50_000);
    let db = TestDb::create(backend).await;
    let sql = SqlStore::connect(&db.url, 8, Default::default())
        .await
        .unwrap();
    sql.migrate().await.unwrap();
    fill(&db.url, events).await;
    let store: DynStore = Arc::new(sql.clone());
    let settings = ConsumerSettings {
        batch: 1_000,
        gap_grace: Duration::from_secs(5),
        backoff: Backoff::default(),
    };
    let handlers: [(&'static str, Arc<dyn OutboxHandler>); 2] = [
        ("bench-nothing", Arc::new(Nothing)),
        (
            "bench-audit",
            Arc::new(BookingAuditProjection::new(store.clone())),
        ),
    ];
    for (name, handler) in handlers {
        let consumer = OutboxConsumer::new(
            name,
            store.clone(),
            handler,
            Arc::new(boxoffice::clock::SystemClock),
            settings,
        );
        let started = Instant::now();
        let handled = consumer.catch_up().await.unwrap();
        let took = started.elapsed();
        assert_eq!(handled as usize, events);
        println!(
            "figure {backend:?} consumer {name}: {events} events in {:.2} s = {:.0} events/s",
            took.as_secs_f64(),
            events as f64 / took.as_secs_f64()
        );
    }
    sql.close().await;
}

async fn latency(backend: Backend) {
    let samples = env_or("BOXOFFICE_FIGURES_SAMPLES", 200);
    let sink = SmtpSink::notices().await;
    let url = sink.url();
    let app = TestApp::spawn_with(backend, move |c| {
        c.mail_transport = MailTransport::Smtp;
        c.smtp_url = Some(SecretUrl::new(url));
        c.notification_emails_per_hour = 0;
    })
    .await;
    let show = app
        .show_with(ShowSpec {
            capacity: 100_000,
            per_user_limit: Some(100),
            ..ShowSpec::default()
        })
        .await;
    let mut waits = Vec::with_capacity(samples);
    let mut handed = Vec::with_capacity(samples);
    let first = boxoffice::store::Page {
        page: 1,
        per_page: 1,
    };
    let mut buyer = app.buyer().await;
    for n in 0..=samples {
        if n % 90 == 89 {
            buyer = app.buyer().await;
        }
        let booking = app.hold(&buyer.token, &show, 1).await;
        app.confirm(&buyer.token, &booking).await.expect(200);
        let committed = Instant::now();
        loop {
            let (items, _) = app
                .state
                .store
                .notifications_of(buyer.id, false, first)
                .await
                .unwrap();
            if items.first().is_some_and(|n| {
                n.detail["booking_id"] == booking.as_str()
                    && n.email_status == boxoffice::store::EmailStatus::Sent
            }) {
                break;
            }
            assert!(committed.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let to_mailer = committed.elapsed();
        let (_, mail) = sink.next(Duration::from_secs(30)).await;
        let took = committed.elapsed();
        assert!(mail.text.contains(&booking), "the email of this booking");
        if n > 0 {
            handed.push(to_mailer);
            waits.push(took);
        }
    }
    for (what, mut d) in [
        ("email handed to the mail sender", handed),
        ("email at the SMTP sink", waits),
    ] {
        d.sort();
        let at = |q: f64| d[((d.len() as f64 * q).ceil() as usize).clamp(1, d.len()) - 1];
        println!(
            "figure {backend:?} confirm commit -> {what}, {} samples: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            d.len(),
            at(0.5).as_secs_f64() * 1e3,
            at(0.9).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            d[d.len() - 1].as_secs_f64() * 1e3,
        );
    }
    app.stop().await;
}

mod figures {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run it explicitly"]
    async fn consumer_throughput_sqlite() {
        throughput(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run it explicitly"]
    async fn consumer_throughput_postgres() {
        throughput(Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run it explicitly"]
    async fn email_latency_sqlite() {
        latency(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run it explicitly"]
    async fn email_latency_postgres() {
        latency(Backend::Postgres).await
    }
}

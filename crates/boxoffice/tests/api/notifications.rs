//! Buyer notifications end to end: a confirmed booking is emailed with its order
//! summary to a real SMTP listener and listed in the buyer's inbox (only theirs),
//! expiry and refunds are told too, the hourly email limit skips emails but never
//! the notification, and erasure removes them while export includes them.
use crate::on_both_backends;
use crate::smtp::SmtpSink;
use crate::support::{eventually, Backend, ShowSpec, TestApp, PASSWORD};
use boxoffice::config::{MailTransport, SecretUrl};
use boxoffice::outbox::OutboxRelay;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn with_smtp(backend: Backend, sink: &SmtpSink, per_hour: u32) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(backend, move |c| {
        c.mail_transport = MailTransport::Smtp;
        c.smtp_url = Some(SecretUrl::new(url));
        c.notification_emails_per_hour = per_hour;
    })
    .await
}

async fn inbox(app: &TestApp, token: &str, query: &str) -> Value {
    app.get(&format!("/api/v1/notifications{query}"), Some(token))
        .await
        .expect(200)
        .clone()
}

on_both_backends!(a_confirmed_booking_is_emailed_with_its_order_summary);
async fn a_confirmed_booking_is_emailed_with_its_order_summary(backend: Backend) {
    let sink = SmtpSink::notices().await;
    let app = with_smtp(backend, &sink, 20).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let booking = app.hold(&buyer.token, &show, 2).await;
    app.confirm(&buyer.token, &booking).await.expect(200);
    let (received, mail) = sink.next(WAIT).await;
    assert_eq!(received.rcpt_to, vec![buyer.email.clone()]);
    assert!(mail.alternative);
    assert!(
        mail.subject.contains("Night Test") && mail.subject.contains("confirmed"),
        "{}",
        mail.subject
    );
    for part in [
        "Night Test",
        "Hall One",
        "Floor",
        "Quantity:   2",
        "25.00 EUR",
        "50.00 EUR",
        booking.as_str(),
    ] {
        assert!(mail.text.contains(part), "{part} in {}", mail.text);
    }
    assert!(mail.html.contains("50.00 EUR") && mail.html.contains(&booking));
    assert!(
        sink.nothing_within(Duration::from_millis(500)).await,
        "the hold itself sends nothing"
    );

    let listed = inbox(&app, &buyer.token, "").await;
    assert_eq!(listed["total"], 1, "{listed}");
    let n = &listed["items"][0];
    assert_eq!(n["kind"], "booking.confirmed");
    assert_eq!(n["email_status"], "sent");
    assert!(n["read_at"].is_null());
    assert!(n["title"].as_str().unwrap().contains("Night Test"));
    assert_eq!(n["detail"]["booking_id"], booking.as_str());
    assert_eq!(n["detail"]["quantity"], 2);
    assert_eq!(n["detail"]["total"], "50.00 EUR");
    let id = n["id"].as_str().unwrap().to_owned();

    // Only the owner sees or touches it.
    let other = app.buyer().await;
    assert_eq!(inbox(&app, &other.token, "").await["total"], 0);
    app.post(
        &format!("/api/v1/notifications/{id}/read"),
        Some(&other.token),
        &json!({}),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    app.get("/api/v1/notifications", None)
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.get("/api/v1/notifications?unread=maybe", Some(&buyer.token))
        .await
        .expect_field_error("unread");
    app.get("/api/v1/notifications?per_page=0", Some(&buyer.token))
        .await
        .expect_field_error("per_page");

    // Reading.
    assert_eq!(inbox(&app, &buyer.token, "?unread=true").await["total"], 1);
    let read = app
        .post(
            &format!("/api/v1/notifications/{id}/read"),
            Some(&buyer.token),
            &json!({}),
        )
        .await;
    assert!(read.expect(200)["read_at"].is_string());
    assert_eq!(inbox(&app, &buyer.token, "?unread=true").await["total"], 0);
    assert_eq!(inbox(&app, &buyer.token, "").await["total"], 1);

    // An expired hold is told too; mark-all reads it.
    let late = app.hold(&buyer.token, &show, 1).await;
    app.clock.advance_secs(11 * 60);
    let (_, mail) = sink.next(WAIT).await;
    assert!(mail.subject.contains("expired"), "{}", mail.subject);
    assert!(mail.text.contains(&late), "{}", mail.text);
    let unread = inbox(&app, &buyer.token, "?unread=true").await;
    assert_eq!(unread["items"][0]["kind"], "booking.expired");
    let all = app
        .post(
            "/api/v1/notifications/read-all",
            Some(&buyer.token),
            &json!({}),
        )
        .await;
    assert_eq!(all.expect(200)["marked"], 1);
    assert_eq!(inbox(&app, &buyer.token, "?unread=true").await["total"], 0);

    // A refund (as the payments capability records it) is told with its amount.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let event_id = uuid::Uuid::now_v7();
    let payload = json!({"booking_id": booking, "show_id": show.show_id, "user_id": buyer.id,
                         "amount_minor": 5000, "currency": "EUR"});
    sqlx::query(&format!(
        "INSERT INTO outbox (id, event_type, aggregate_id, payload, created_at) \
         VALUES ('{event_id}', 'refund.succeeded', '{booking}', '{payload}', {})",
        boxoffice_domain::Timestamp::now().millis()
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    app.state.relay.committed();
    let (_, mail) = sink.next(WAIT).await;
    assert!(mail.subject.contains("refund"), "{}", mail.subject);
    assert!(mail.text.contains("50.00 EUR") && mail.text.contains(&booking));

    // Export includes them; erasure removes them.
    let export = app.get("/api/v1/auth/me/export", Some(&buyer.token)).await;
    let kinds: Vec<&str> = export.expect(200)["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["refund.succeeded", "booking.expired", "booking.confirmed"]
    );
    app.send(
        Method::DELETE,
        "/api/v1/auth/me",
        Some(&buyer.token),
        Some(&json!({ "password": PASSWORD })),
    )
    .await
    .expect(204);
    let left = app
        .state
        .store
        .notifications_of(
            buyer.id,
            false,
            boxoffice::store::Page {
                page: 1,
                per_page: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(left.1, 0, "erasure removed the notifications");
    app.stop().await;
}

on_both_backends!(the_hourly_email_limit_skips_emails_and_keeps_notifications);
async fn the_hourly_email_limit_skips_emails_and_keeps_notifications(backend: Backend) {
    let sink = SmtpSink::notices().await;
    let app = with_smtp(backend, &sink, 2).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let other = app.buyer().await;
    for _ in 0..3 {
        let b = app.hold(&buyer.token, &show, 1).await;
        app.confirm(&buyer.token, &b).await.expect(200);
    }
    for _ in 0..2 {
        let (received, _) = sink.next(WAIT).await;
        assert_eq!(received.rcpt_to, vec![buyer.email.clone()]);
    }
    let listed = eventually(WAIT, "three notifications", || async {
        let v = inbox(&app, &buyer.token, "").await;
        (v["total"] == 3).then_some(v)
    })
    .await;
    let statuses: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["email_status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rate_limited", "sent", "sent"], "newest first");
    assert!(
        sink.nothing_within(Duration::from_secs(1)).await,
        "no third email this hour"
    );
    // The limit is per user: another buyer still gets theirs.
    let b = app.hold(&other.token, &show, 1).await;
    app.confirm(&other.token, &b).await.expect(200);
    let (received, _) = sink.next(WAIT).await;
    assert_eq!(received.rcpt_to, vec![other.email.clone()]);
    // An hour later the buyer's emails flow again.
    app.clock.advance_secs(3601);
    let token = app.token_for(&buyer);
    let b = app.hold(&token, &show, 1).await;
    app.confirm(&token, &b).await.expect(200);
    let (received, _) = sink.next(WAIT).await;
    assert_eq!(received.rcpt_to, vec![buyer.email.clone()]);
    app.stop().await;
}

//! Retention of the outbox: only events older than the retention period and handled
//! by every consumer go, never one the slowest consumer has not read; resolved dead
//! letters go after their own period, open ones stay.
use crate::on_both_backends;
use crate::support::{eventually, Backend, ShowSpec, TestApp};
use boxoffice::clock::Clock;
use boxoffice::outbox::retention::prune_outbox;
use boxoffice::outbox::Retention;
use boxoffice::store::{DeadLetterRecord, DeadLetterStatus};
use std::time::Duration;

on_both_backends!(retention_never_prunes_past_the_slowest_consumer);
async fn retention_never_prunes_past_the_slowest_consumer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    // Cancelled holds: nothing expires (and writes events) when the clock jumps.
    for _ in 0..2 {
        let booking = app.hold(&buyer.token, &show, 1).await;
        app.cancel(&buyer.token, &booking).await.expect(200);
    }
    let events = app.outbox().await;
    assert_eq!(events.len(), 4);
    let last = events[3].seq;
    let store = &app.state.store;
    for name in [
        "audit",
        "notifications",
        boxoffice::tickets::OUTBOX_CONSUMER,
        boxoffice::webhooks::OUTBOX_CONSUMER,
    ] {
        eventually(
            Duration::from_secs(10),
            "the consumers catch up",
            || async { (store.consumer_offset(name).await.unwrap() >= last).then_some(()) },
        )
        .await;
    }
    // A consumer that has read the first event only.
    store
        .save_consumer_offset("laggard", events[0].seq)
        .await
        .unwrap();
    let later = app.clock.now().plus_secs(3600);
    let pruned = prune_outbox(store, &["audit", "notifications", "laggard"], later)
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let left: Vec<i64> = app.outbox().await.iter().map(|e| e.seq).collect();
    assert_eq!(left, events[1..].iter().map(|e| e.seq).collect::<Vec<_>>());
    assert_eq!(
        prune_outbox(store, &[], later).await.unwrap(),
        0,
        "no consumer: the log is all there is"
    );

    // The running consumers have read everything, but nothing is old enough yet.
    let retention = Retention::new(
        store.clone(),
        app.state.consumers.clone(),
        app.clock.clone(),
        Duration::from_secs(168 * 3600),
        Duration::from_secs(100 * 3600),
    );
    assert_eq!(retention.run_once().await.unwrap().events, 0);
    assert_eq!(app.outbox().await.len(), 3);

    // Dead letters: one open, one discarded long ago.
    let now = app.clock.now();
    let letter = |id: &str, status, resolved_at| DeadLetterRecord {
        id: id.into(),
        consumer: "laggard".into(),
        event: events[1].clone(),
        last_error: "boom".into(),
        attempts: 5,
        first_failed_at: now,
        last_failed_at: now,
        status,
        resolved_at,
    };
    let open_id = uuid::Uuid::now_v7().to_string();
    store
        .bury(&letter(&open_id, DeadLetterStatus::Open, None))
        .await
        .unwrap();
    let mut other = letter(
        &uuid::Uuid::now_v7().to_string(),
        DeadLetterStatus::Discarded,
        Some(now),
    );
    other.event = events[2].clone();
    store.bury(&other).await.unwrap();

    // 200 hours on: every handled event and the discarded letter go.
    app.clock.advance_secs(200 * 3600);
    let pruned = retention.run_once().await.unwrap();
    assert_eq!(pruned.events, 3);
    assert_eq!(pruned.dead_letters, 1);
    assert!(app.outbox().await.is_empty());
    assert_eq!(
        store.dead_letter(&open_id).await.unwrap().status,
        DeadLetterStatus::Open,
        "open letters stay, with their copy of the event"
    );
    assert!(store.dead_letter(&other.id).await.is_err());

    // A new event is newer than the retention period: kept.
    let token = app.token_for(&buyer);
    let booking = app.hold(&token, &show, 1).await;
    app.cancel(&token, &booking).await.expect(200);
    eventually(
        Duration::from_secs(10),
        "the consumers catch up",
        || async {
            let newest = app.outbox().await.last().map(|e| e.seq)?;
            (store.consumer_offset("notifications").await.unwrap() >= newest).then_some(())
        },
    )
    .await;
    assert_eq!(retention.run_once().await.unwrap().events, 0);
    assert_eq!(app.outbox().await.len(), 2);
    app.stop().await;
}

//! Holds run out: within a second and a half of the deadline the booking is expired,
//! its tickets are back on sale, `booking.expired` is recorded and a late confirm is
//! refused.
use crate::on_every_engine;
use crate::support::{eventually, zone_totals, Backend, ShowSpec, TestApp};
use std::time::Duration;

async fn holds_expire_and_release_their_tickets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 10,
            hold_ttl_secs: Some(30),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let late = app.hold(&buyer.token, &show, 4).await;
    let path = format!("/api/v1/bookings/{late}");

    // Not before the deadline.
    app.clock.advance_secs(25);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        app.get(&path, Some(&buyer.token)).await.expect(200)["status"],
        "held"
    );
    assert_eq!(app.zone_view(&show).await["available"], 6);

    app.clock.advance_secs(6);
    eventually(
        Duration::from_millis(1500),
        "the hold to expire",
        || async {
            let b = app.get(&path, Some(&buyer.token)).await;
            (b.body["status"] == "expired").then_some(())
        },
    )
    .await;
    let zone = app.zone_view(&show).await;
    assert_eq!(
        (zone["available"].as_u64(), zone["held"].as_u64()),
        (Some(10), Some(0))
    );
    assert_eq!(
        app.events_of(&late).await,
        ["booking.reserved", "booking.expired"]
    );
    let expired_event = app
        .outbox()
        .await
        .into_iter()
        .find(|e| e.event_type == "booking.expired")
        .unwrap();
    assert_eq!(expired_event.payload["status"], "expired");

    let r = app.confirm(&buyer.token, &late).await;
    r.expect_problem(409, "/problems/hold-expired");
    let r = app.cancel(&buyer.token, &late).await;
    r.expect_problem(409, "/problems/hold-expired");
    assert_eq!(
        app.events_of(&late).await.len(),
        2,
        "refused transitions record nothing"
    );

    // The released tickets sell again, and the buyer's allowance is back.
    let again = app.hold(&buyer.token, &show, 6).await;
    app.confirm(&buyer.token, &again).await.expect(200);
    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (0, 6, 4));
    assert_eq!(sales["consistent"], true);
}

on_every_engine!(holds_expire_and_release_their_tickets);

#[tokio::test]
async fn a_hold_past_its_deadline_cannot_be_confirmed_even_before_the_sweep() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 5,
            hold_ttl_secs: Some(30),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let id = app.hold(&buyer.token, &show, 2).await;
    app.clock.advance_secs(31);
    // Whether the sweep got there first or not, a late confirm never sells.
    app.confirm(&buyer.token, &id)
        .await
        .expect_problem(409, "/problems/hold-expired");
    eventually(
        Duration::from_millis(1500),
        "the hold to expire",
        || async {
            let z = app.zone_view(&show).await;
            (z["available"] == 5).then_some(())
        },
    )
    .await;
    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (0, 0, 5));
    assert_eq!(sales["consistent"], true);
}

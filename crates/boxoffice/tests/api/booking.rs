//! The booking lifecycle through HTTP: reserve, confirm, cancel, listings, access
//! rules, limits and the outbox events every state change writes.
use crate::on_every_engine;
use crate::support::{eventually, zone_totals, Backend, ShowSpec, TestApp};
use boxoffice::clock::Clock;
use boxoffice::timefmt::parse_rfc3339;
use serde_json::Value;
use std::time::Duration;

async fn lifecycle_and_outbox(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 20,
            hold_ttl_secs: Some(30),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;

    let before = app.clock.now();
    let r = app.reserve(&buyer.token, &show, 2).await;
    let held = r.expect(201).clone();
    assert_eq!(held["status"], "held");
    assert_eq!(held["quantity"], 2);
    assert_eq!(held["unit_price_minor"], 2500);
    assert_eq!(held["total_minor"], 5000);
    assert_eq!(held["currency"], "EUR");
    assert_eq!(held["user_id"], buyer.id.to_string());
    let expires = parse_rfc3339(held["expires_at"].as_str().unwrap()).unwrap();
    let ttl_ms = expires.millis() - before.millis();
    assert!(
        (29_000..=31_000).contains(&ttl_ms),
        "expires after the show's hold time, got {ttl_ms} ms"
    );
    let confirmed_id = held["id"].as_str().unwrap().to_owned();
    let cancelled_id = app.hold(&buyer.token, &show, 3).await;
    let expiring_id = app.hold(&buyer.token, &show, 1).await;
    assert_eq!(zone_totals(&app.sales(&show).await), (6, 0, 14));

    let r = app.confirm(&buyer.token, &confirmed_id).await;
    assert_eq!(r.expect(200)["status"], "confirmed");
    // Confirming again is harmless and changes nothing.
    let r = app.confirm(&buyer.token, &confirmed_id).await;
    assert_eq!(r.expect(200)["status"], "confirmed");
    assert_eq!(zone_totals(&app.sales(&show).await), (4, 2, 14));

    let r = app.cancel(&buyer.token, &cancelled_id).await;
    assert_eq!(r.expect(200)["status"], "cancelled");
    assert_eq!(zone_totals(&app.sales(&show).await), (1, 2, 17));
    let zone = app.zone_view(&show).await;
    assert_eq!(zone["available"], 17);

    // Final states stay final.
    app.cancel(&buyer.token, &confirmed_id)
        .await
        .expect_problem(409, "/problems/invalid-state");
    app.confirm(&buyer.token, &cancelled_id)
        .await
        .expect_problem(409, "/problems/invalid-state");
    assert_eq!(zone_totals(&app.sales(&show).await), (1, 2, 17));

    // The last hold runs out.
    app.clock.advance_secs(31);
    eventually(Duration::from_secs(3), "the hold to expire", || async {
        let b = app
            .get(
                &format!("/api/v1/bookings/{expiring_id}"),
                Some(&buyer.token),
            )
            .await;
        (b.body["status"] == "expired").then_some(())
    })
    .await;
    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (0, 2, 18));
    assert_eq!(sales["consistent"], true);

    assert_eq!(
        app.events_of(&confirmed_id).await,
        ["booking.reserved", "booking.confirmed"]
    );
    assert_eq!(
        app.events_of(&cancelled_id).await,
        ["booking.reserved", "booking.cancelled"]
    );
    assert_eq!(
        app.events_of(&expiring_id).await,
        ["booking.reserved", "booking.expired"]
    );
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 6, "one event per state change");
    let confirmed = outbox
        .iter()
        .find(|e| e.event_type == "booking.confirmed")
        .unwrap();
    assert_eq!(confirmed.payload["status"], "confirmed");
    assert_eq!(confirmed.payload["quantity"], 2);
    assert!(outbox.windows(2).all(|w| w[0].seq < w[1].seq));
}

on_every_engine!(lifecycle_and_outbox);

/// Holds the store's write lock on `booking` (PostgreSQL: its row; SQLite: the
/// database) until the returned guard commits.
async fn lock_booking(app: &TestApp, booking: &str) -> Locked {
    use sqlx::Connection;
    match app.db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            Locked::Sqlite(conn)
        }
        _ => {
            let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
            let locked = sqlx::query("SELECT id FROM bookings WHERE id = $1 FOR UPDATE")
                .bind(booking)
                .fetch_all(&mut conn)
                .await
                .unwrap();
            assert_eq!(locked.len(), 1, "the booking's row is locked");
            Locked::Postgres(conn)
        }
    }
}

enum Locked {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Locked {
    async fn release(self) {
        match self {
            Locked::Sqlite(mut c) => sqlx::query("COMMIT").execute(&mut c).await.map(drop),
            Locked::Postgres(mut c) => sqlx::query("COMMIT").execute(&mut c).await.map(drop),
        }
        .unwrap();
    }
}

/// A confirmation whose request times out while its write waits on the store is
/// still carried through: once the write commits, the live counters move with it
/// (the request is not dropped between the commit and the counters).
async fn a_confirmation_outliving_its_request_still_moves_the_counters(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.request_timeout_secs = 1).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 10,
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let booking = app.hold(&buyer.token, &show, 2).await;
    let before = app.sales(&show).await;
    assert_eq!(zone_totals(&before), (2, 0, 8), "{before}");

    let confirm = || async {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/bookings/{booking}/confirm")))
            .bearer_auth(&buyer.token)
            .header("idempotency-key", "confirm-once")
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("the request is answered");
        crate::support::read(res).await
    };
    let lock = lock_booking(&app, &booking).await;
    confirm().await.expect_problem(503, "/problems/unavailable");
    lock.release().await;

    // The counters follow the commit a moment later; without that step they never do.
    let sales = eventually(
        Duration::from_secs(10),
        "the confirmation to be counted",
        || async {
            let sales = app.sales(&show).await;
            (sales["zones"][0]["recorded_sold"] == 2 && sales["zones"][0]["sold"] == 2)
                .then_some(sales)
        },
    )
    .await;
    let booking = app
        .get(&format!("/api/v1/bookings/{booking}"), Some(&buyer.token))
        .await;
    assert_eq!(booking.expect(200)["status"], "confirmed");
    assert_eq!(zone_totals(&sales), (0, 2, 8), "{sales}");
    assert_eq!(sales["consistent"], true, "{sales}");

    // The answer the client never saw was recorded: a retry with the key replays it.
    let retried = eventually(
        Duration::from_secs(10),
        "the answer to be recorded",
        || async {
            let r = confirm().await;
            (r.status != 409).then_some(r)
        },
    )
    .await;
    assert_eq!(retried.expect(200)["status"], "confirmed");
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
}

on_every_engine!(a_confirmation_outliving_its_request_still_moves_the_counters);

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn listings_are_mine_paginated_and_filtered() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let other = app.buyer().await;
    let t = Some(buyer.token.as_str());

    let first = app.hold(&buyer.token, &show, 1).await;
    let second = app.hold(&buyer.token, &show, 1).await;
    let third = app.hold(&buyer.token, &show, 1).await;
    let foreign = app.hold(&other.token, &show, 1).await;
    app.confirm(&buyer.token, &second).await.expect(200);

    let all = app.get("/api/v1/bookings", t).await;
    assert_eq!(all.expect(200)["total"], 3);
    let mut mine = ids(&all.body);
    assert!(!mine.contains(&foreign));
    mine.sort();
    let mut expected = vec![first.clone(), second.clone(), third.clone()];
    expected.sort();
    assert_eq!(mine, expected);

    let p1 = app.get("/api/v1/bookings?per_page=2&page=1", t).await;
    let p2 = app.get("/api/v1/bookings?per_page=2&page=2", t).await;
    assert_eq!(p1.expect(200)["total"], 3);
    assert_eq!(ids(&p1.body).len(), 2);
    assert_eq!(ids(p2.expect(200)).len(), 1);
    assert!(!ids(&p1.body).contains(&ids(&p2.body)[0]));

    let pending = app.get("/api/v1/bookings/pending", t).await;
    let mut pending_ids = ids(pending.expect(200));
    pending_ids.sort();
    let mut expected = vec![first.clone(), third.clone()];
    expected.sort();
    assert_eq!(pending_ids, expected);
    assert_eq!(pending.body["total"], 2);

    let confirmed = app.get("/api/v1/bookings?status=confirmed", t).await;
    assert_eq!(ids(confirmed.expect(200)), vec![second.clone()]);
    app.get("/api/v1/bookings?status=sold", t)
        .await
        .expect_field_error("status");
    app.get("/api/v1/bookings?per_page=500", t)
        .await
        .expect_field_error("per_page");
}

#[tokio::test]
async fn a_booking_is_visible_to_its_owner_and_admins_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app.show_with(ShowSpec::default()).await;
    let owner = app.buyer().await;
    let stranger = app.buyer().await;
    let admin = app.admin().await;
    let id = app.hold(&owner.token, &show, 2).await;
    let path = format!("/api/v1/bookings/{id}");

    assert_eq!(
        app.get(&path, Some(&owner.token)).await.expect(200)["id"],
        id
    );
    assert_eq!(
        app.get(&path, Some(&admin.token)).await.expect(200)["id"],
        id
    );
    app.get(&path, Some(&stranger.token))
        .await
        .expect_problem(403, "/problems/forbidden");
    app.get(&path, None)
        .await
        .expect_problem(401, "/problems/unauthorized");
    // Strangers can neither confirm nor cancel it.
    app.confirm(&stranger.token, &id)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.cancel(&stranger.token, &id)
        .await
        .expect_problem(403, "/problems/forbidden");
    assert_eq!(
        app.get(&path, Some(&owner.token)).await.body["status"],
        "held"
    );
    app.get(
        &format!("/api/v1/bookings/{}", uuid::Uuid::now_v7()),
        Some(&owner.token),
    )
    .await
    .expect_problem(404, "/problems/not-found");

    // The sales report is the organizer's (or an admin's).
    let sales = format!("/api/v1/shows/{}/sales", show.show_id);
    app.get(&sales, Some(&owner.token))
        .await
        .expect_problem(403, "/problems/forbidden");
    assert_eq!(
        app.get(&sales, Some(&admin.token)).await.expect(200)["consistent"],
        true
    );
}

#[tokio::test]
async fn the_per_buyer_limit_counts_every_live_booking() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 50,
            per_user_limit: Some(4),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let t = &buyer.token;

    let a = app.hold(t, &show, 3).await;
    app.reserve(t, &show, 2)
        .await
        .expect_problem(409, "/problems/limit-reached");
    app.hold(t, &show, 1).await;
    app.reserve(t, &show, 1)
        .await
        .expect_problem(409, "/problems/limit-reached");
    // Confirmed tickets still count; cancelled ones free the allowance.
    app.confirm(t, &a).await.expect(200);
    app.reserve(t, &show, 1)
        .await
        .expect_problem(409, "/problems/limit-reached");
    let pending = app.get("/api/v1/bookings/pending", Some(t)).await;
    let last = ids(pending.expect(200))[0].clone();
    app.cancel(t, &last).await.expect(200);
    app.hold(t, &show, 1).await;

    // Other buyers have their own allowance.
    let other = app.buyer().await;
    app.hold(&other.token, &show, 4).await;

    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (5, 3, 42));
    assert_eq!(sales["max_per_buyer"], 4);
    assert_eq!(sales["consistent"], true);
}

#[tokio::test]
async fn sales_must_be_open_and_stock_must_last() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let later = app
        .show_with(ShowSpec {
            capacity: 5,
            opens_in_secs: Some(3600),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let r = app.reserve(&buyer.token, &later, 1).await;
    r.expect_problem(409, "/problems/sale-not-open");
    assert_eq!(app.zone_view(&later).await["available"], 5);

    // An hour later the same request succeeds.
    app.clock.advance_secs(3601);
    let token = app.token_for(&buyer);
    app.hold(&token, &later, 1).await;

    let small = app
        .show_with(ShowSpec {
            capacity: 3,
            ..ShowSpec::default()
        })
        .await;
    let first = app.buyer().await;
    let second = app.buyer().await;
    app.hold(&first.token, &small, 2).await;
    let r = app.reserve(&second.token, &small, 2).await;
    r.expect_problem(409, "/problems/sold-out");
    app.hold(&second.token, &small, 1).await;
    app.reserve(&second.token, &small, 1)
        .await
        .expect_problem(409, "/problems/sold-out");
    let sales = app.sales(&small).await;
    assert_eq!(zone_totals(&sales), (3, 0, 0));
    assert_eq!(sales["consistent"], true);
}

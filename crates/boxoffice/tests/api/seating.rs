//! Reserved seating and orders of several items through HTTP: layouts and seat maps,
//! buyers racing for overlapping seats, best available, orders taken whole or not at
//! all, bad input that holds nothing, the live status with its ETag, and the rebuild
//! of seats after a restart.
use crate::on_every_engine;
use crate::support::{read, Backend, Resp, TestApp, User};
use boxoffice::clock::Clock;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// A show with two seated zones and a standing one, seated with a layout of five
/// stalls rows (A nearest the stage) and two balcony rows of ten seats.
pub struct Seated {
    pub organizer: User,
    pub show_id: String,
    pub stalls: String,
    pub balcony: String,
    pub standing: String,
    /// Seat id by label (`"Stalls A-1"`).
    pub seats: HashMap<String, String>,
    pub blocked: String,
}

impl Seated {
    pub fn seat(&self, label: &str) -> String {
        self.seats[label].clone()
    }
}

pub async fn layout(app: &TestApp, organizer: &User) -> Value {
    let org = app.org_of(organizer).await;
    let mut rows = Vec::new();
    for (n, row) in ["A", "B", "C", "D", "E"].iter().enumerate() {
        rows.push(
            json!({"section": "Stalls", "row": row, "first": 1, "count": 10,
            "x": 0, "y": 10 + 10 * n, "category": "S", "accessible": [1], "companion": [2]}),
        );
    }
    for (n, row) in ["F", "G"].iter().enumerate() {
        rows.push(
            json!({"section": "Balcony", "row": row, "first": 1, "count": 10,
            "x": 0, "y": 100 + 10 * n, "category": "B"}),
        );
    }
    let r = app
        .post(
            "/api/v1/layouts",
            Some(&app.token_for(organizer)),
            &json!({"organization_id": org, "name": "Hall One", "rows": rows}),
        )
        .await;
    r.expect(201).clone()
}

pub async fn seated_show(app: &TestApp, per_user_limit: i64, hold_ttl_secs: i64) -> Seated {
    let organizer = app.organizer().await;
    let token = app.token_for(&organizer);
    let event = app
        .create_event(
            &token,
            &json!({"title": "Seated Night", "category": "concert", "city": "Lyon"}),
        )
        .await;
    let starts = crate::support::rfc3339(app.clock.now().plus_secs(30 * 24 * 3600));
    let show = app
        .create_show(
            &token,
            event["id"].as_str().unwrap(),
            &json!({"venue": "Hall One", "starts_at": starts, "per_user_limit": per_user_limit,
                "hold_ttl_secs": hold_ttl_secs,
                "zones": [
                    {"name": "Stalls", "price_minor": 3000, "currency": "EUR", "capacity": 1},
                    {"name": "Balcony", "price_minor": 2000, "currency": "EUR", "capacity": 1},
                    {"name": "Standing", "price_minor": 1000, "currency": "EUR", "capacity": 50}]}),
        )
        .await;
    let zone = |n: usize| show["zones"][n]["id"].as_str().unwrap().to_owned();
    let layout = layout(app, &organizer).await;
    let seats: HashMap<String, String> = layout["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["label"].as_str().unwrap().to_owned(),
                s["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let blocked = seats["Stalls E-10"].clone();
    let show_id = show["id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            &format!("/api/v1/shows/{show_id}/seating"),
            Some(&token),
            &json!({"layout_id": layout["id"], "blocked": [blocked],
                "categories": [{"category": "S", "zone_id": zone(0)}, {"category": "B", "zone_id": zone(1)}]}),
        )
        .await;
    r.expect(200);
    Seated {
        organizer,
        show_id,
        stalls: zone(0),
        balcony: zone(1),
        standing: zone(2),
        seats,
        blocked,
    }
}

async fn order(app: &TestApp, token: &str, show: &Seated, items: Value) -> Resp {
    app.post(
        "/api/v1/bookings/reserve",
        Some(token),
        &json!({"show_id": show.show_id, "items": items}),
    )
    .await
}

async fn status(app: &TestApp, show: &Seated) -> Value {
    app.get(&format!("/api/v1/shows/{}/seats", show.show_id), None)
        .await
        .expect(200)
        .clone()
}

/// `(free, held, sold, blocked)` by the status endpoint.
async fn seat_counts(app: &TestApp, show: &Seated) -> (u64, u64, u64, u64) {
    let s = status(app, show).await;
    let n = |k: &str| s[k].as_u64().unwrap();
    (n("free"), n("held"), n("sold"), n("blocked"))
}

async fn sales(app: &TestApp, show: &Seated) -> Value {
    let token = app.token_for(&show.organizer);
    app.get(
        &format!("/api/v1/shows/{}/sales", show.show_id),
        Some(&token),
    )
    .await
    .expect(200)
    .clone()
}

/// `(held, sold, capacity)` of one zone by the sales report.
fn zone_of(sales: &Value, zone: &str) -> (u64, u64, u64) {
    let z = sales["zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone_id"] == zone)
        .unwrap();
    (
        z["held"].as_u64().unwrap(),
        z["sold"].as_u64().unwrap(),
        z["capacity"].as_u64().unwrap(),
    )
}

fn seat_labels(booking: &Value) -> Vec<String> {
    booking["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["seat"]["label"].as_str().map(str::to_owned))
        .collect()
}

async fn buyers_racing_for_overlapping_seats_each_win_whole_or_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let show = seated_show(&app, 4, 600).await;
    let buyers = app.bulk_buyers(&admin, 500).await;
    // Buyer i wants two neighbouring stalls seats of rows A and B; every pair
    // overlaps its neighbours' pairs.
    let wanted: Vec<Vec<String>> = (0..buyers.len())
        .map(|i| {
            let row = ["A", "B"][i % 2];
            let first = 1 + (i / 2) % 9;
            (first..first + 2)
                .map(|n| show.seat(&format!("Stalls {row}-{n}")))
                .collect()
        })
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(buyers.len()));
    let tasks: Vec<_> = buyers
        .iter()
        .zip(&wanted)
        .map(|((_, token), seats)| {
            let client = app.client.clone();
            let url = app.url("/api/v1/bookings/reserve");
            let body = json!({"show_id": show.show_id, "items": [{"seats": seats}]});
            let (token, barrier) = (token.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                read(
                    client
                        .post(url)
                        .bearer_auth(token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap(),
                )
                .await
            })
        })
        .collect();
    let mut held: HashSet<String> = HashSet::new();
    let mut winners = 0;
    for (t, seats) in tasks.into_iter().zip(&wanted) {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            201 => {
                winners += 1;
                let got: Vec<String> = r.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["seat"]["id"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(&got, seats, "a winner holds exactly the seats asked for");
                for s in got {
                    assert!(held.insert(s), "a seat was held twice");
                }
            }
            409 => assert_eq!(r.body["type"], "/problems/seat-taken", "{}", r.text),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(
        winners >= 5,
        "at least a disjoint set of pairs per row wins: {winners}"
    );
    assert_eq!(held.len(), winners * 2, "no partial holds");
    let (free, h, sold, blocked) = seat_counts(&app, &show).await;
    assert_eq!((h, sold, blocked), (held.len() as u64, 0, 1));
    assert_eq!(free + h + sold + blocked, 70);
    let s = sales(&app, &show).await;
    assert_eq!(zone_of(&s, &show.stalls), (held.len() as u64, 0, 49));
    assert_eq!(s["consistent"], true, "{s}");
}

async fn an_order_of_several_zones_is_taken_whole_or_not_at_all(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = seated_show(&app, 8, 60).await;
    let (ana, bo) = (app.buyer().await, app.buyer().await);
    let r = order(
        &app,
        &ana.token,
        &show,
        json!([
            {"zone_id": show.standing, "quantity": 2},
            {"seats": [show.seat("Stalls C-4"), show.seat("Stalls C-5")]},
            {"zone_id": show.balcony, "best_available": 3},
        ]),
    )
    .await;
    let booking = r.expect(201).clone();
    assert_eq!(booking["quantity"], 7);
    assert_eq!(booking["total_minor"], 2 * 1000 + 2 * 3000 + 3 * 2000);
    assert_eq!(
        seat_labels(&booking),
        [
            "Stalls C-4",
            "Stalls C-5",
            "Balcony F-1",
            "Balcony F-2",
            "Balcony F-3"
        ]
    );
    assert_eq!(booking["items"][0]["quantity"], 2);
    assert!(booking["items"][0]["seat"].is_null());
    let id = booking["id"].as_str().unwrap().to_owned();
    let read_back = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&ana.token))
        .await;
    assert_eq!(read_back.expect(200)["items"], booking["items"]);

    // One taken seat refuses the whole order: the standing tickets stay on sale.
    let before = sales(&app, &show).await;
    let r = order(
        &app,
        &bo.token,
        &show,
        json!([
            {"zone_id": show.standing, "quantity": 3},
            {"seats": [show.seat("Stalls C-6"), show.seat("Stalls C-5")]},
        ]),
    )
    .await;
    let p = r.expect_problem(409, "/problems/seat-taken");
    assert!(p["detail"].as_str().unwrap().contains("Stalls C-5"), "{p}");
    let after = sales(&app, &show).await;
    assert_eq!(after["zones"], before["zones"]);
    assert_eq!(seat_counts(&app, &show).await, (64, 5, 0, 1));

    // A general-admission request on a seated zone is refused; on standing it works.
    let r = app
        .post(
            "/api/v1/bookings/reserve",
            Some(&bo.token),
            &json!({"show_id": show.show_id, "zone_id": show.stalls, "quantity": 1}),
        )
        .await;
    r.expect_field_error("quantity");
    let r = app
        .post(
            "/api/v1/bookings/reserve",
            Some(&bo.token),
            &json!({"show_id": show.show_id, "zone_id": show.standing, "quantity": 1}),
        )
        .await;
    assert_eq!(r.expect(201)["items"][0]["quantity"], 1);

    // Confirm sells every seat; the hold of another buyer expires and frees its seats.
    let late = order(
        &app,
        &bo.token,
        &show,
        json!([{"zone_id": show.stalls, "best_available": 2}]),
    )
    .await;
    assert_eq!(seat_labels(late.expect(201)), ["Stalls A-1", "Stalls A-2"]);
    app.confirm(&ana.token, &id).await.expect(200);
    assert_eq!(seat_counts(&app, &show).await, (62, 2, 5, 1));
    app.clock.advance_secs(61);
    crate::support::eventually(std::time::Duration::from_secs(10), "expiry", || async {
        (seat_counts(&app, &show).await == (64, 0, 5, 1)).then_some(())
    })
    .await;
    let s = sales(&app, &show).await;
    assert_eq!(zone_of(&s, &show.stalls), (0, 2, 49));
    assert_eq!(zone_of(&s, &show.balcony), (0, 3, 20));
    assert_eq!(zone_of(&s, &show.standing), (0, 2, 50));
    assert_eq!(s["consistent"], true, "{s}");
}

async fn bad_seat_requests_name_the_field_and_hold_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = seated_show(&app, 4, 600).await;
    let other = seated_show(&app, 4, 600).await;
    let buyer = app.buyer().await;
    let a1 = show.seat("Stalls A-1");
    let unknown = uuid::Uuid::now_v7().to_string();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown seat",
            json!([{"seats": [unknown]}]),
            "items[0].seats[0]",
        ),
        (
            "another show's seat",
            json!([{"seats": [a1, other.seat("Stalls A-2")]}]),
            "items[0].seats[1]",
        ),
        (
            "blocked seat",
            json!([{"seats": [show.blocked]}]),
            "items[0].seats[0]",
        ),
        (
            "a seat twice",
            json!([{"seats": [a1]}, {"seats": [show.seat("Stalls A-2"), a1]}]),
            "items[1].seats[1]",
        ),
        (
            "seat outside the item's zone",
            json!([{"zone_id": show.balcony, "seats": [a1]}]),
            "items[0].seats[0]",
        ),
        (
            "quantity of a seated zone",
            json!([{"zone_id": show.stalls, "quantity": 2}]),
            "items[0].quantity",
        ),
        (
            "best available in general admission",
            json!([{"zone_id": show.standing, "best_available": 2}]),
            "items[0].best_available",
        ),
        (
            "quantity and seats in one item",
            json!([{"zone_id": show.standing, "quantity": 1, "seats": [a1]}]),
            "items[0]",
        ),
        (
            "no zone for best available",
            json!([{"best_available": 2}]),
            "items[0].zone_id",
        ),
        ("no items", json!([]), "items"),
        (
            "above the limit",
            json!([{"zone_id": show.standing, "quantity": 3}, {"seats": [a1, show.seat("Stalls A-2")]}]),
            "items",
        ),
        (
            "zero best available",
            json!([{"zone_id": show.stalls, "best_available": 0}]),
            "items[0].best_available",
        ),
        (
            "a seat id that is not a uuid",
            json!([{"seats": ["A-1"]}]),
            "items[0].seats[0]",
        ),
    ];
    for (name, items, field) in cases {
        let r = order(&app, &buyer.token, &show, items).await;
        assert_eq!(r.status.as_u16(), 422, "{name}: {}", r.text);
        assert!(
            r.error_fields().iter().any(|f| f == field),
            "{name}: expected {field} in {:?}",
            r.error_fields()
        );
    }
    let r = app
        .post(
            "/api/v1/bookings/reserve",
            Some(&buyer.token),
            &json!({"show_id": show.show_id, "zone_id": show.standing, "quantity": 1,
                "items": [{"seats": [a1]}]}),
        )
        .await;
    r.expect_field_error("items");
    assert_eq!(seat_counts(&app, &show).await, (69, 0, 0, 1));
    let s = sales(&app, &show).await;
    assert_eq!(s["max_per_buyer"], 0, "nothing held: {s}");
}

async fn if_none_match(app: &TestApp, path: &str, etag: &str) -> Resp {
    let res = app
        .client
        .get(app.url(path))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    read(res).await
}

async fn seat_status_is_cacheable_and_drawn(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = seated_show(&app, 4, 600).await;
    let path = format!("/api/v1/shows/{}/seats", show.show_id);
    let first = app.get(&path, None).await;
    let body = first.expect(200).clone();
    assert_eq!(body["seats"], 70);
    // Index order is row by row: E-10 (blocked) is the 50th seat.
    assert_eq!(body["runs"], "49f1b20f");
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = if_none_match(&app, &path, &etag).await;
    assert_eq!(again.status.as_u16(), 304);
    let buyer = app.buyer().await;
    order(
        &app,
        &buyer.token,
        &show,
        json!([{"seats": [show.seat("Stalls A-3")]}]),
    )
    .await
    .expect(201);
    let changed = if_none_match(&app, &path, &etag).await;
    assert_eq!(changed.expect(200)["runs"], "2f1h46f1b20f");
    assert_ne!(changed.header("etag"), Some(etag.as_str()));

    let svg = app
        .get(&format!("/api/v1/shows/{}/seats.svg", show.show_id), None)
        .await;
    assert_eq!(svg.status.as_u16(), 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert_eq!(svg.text.matches("<circle").count(), 70);
    assert_eq!(svg.text.matches(r#"class="h"#).count(), 1);

    let map = app
        .get(&format!("/api/v1/shows/{}/seating", show.show_id), None)
        .await;
    let map = map.expect(200);
    assert_eq!(map["seats"].as_array().unwrap().len(), 70);
    assert_eq!(map["seats"][0]["accessible"], true);
    assert_eq!(map["seats"][49]["blocked"], true);
}

async fn only_the_owner_seats_a_show(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = seated_show(&app, 4, 600).await;
    let stranger = app.organizer().await;
    let theirs = layout(&app, &stranger).await;
    let r = app
        .put(
            &format!("/api/v1/shows/{}/seating", show.show_id),
            Some(&stranger.token),
            &json!({"layout_id": theirs["id"], "categories": []}),
        )
        .await;
    r.expect_problem(403, "/problems/forbidden");
    // The owner cannot use another organization's layout either.
    let r = app
        .put(
            &format!("/api/v1/shows/{}/seating", show.show_id),
            Some(&app.token_for(&show.organizer)),
            &json!({"layout_id": theirs["id"], "categories": []}),
        )
        .await;
    r.expect_field_error("layout_id");
    let buyer = app.buyer().await;
    let r = app
        .get(
            &format!("/api/v1/layouts/{}", theirs["id"].as_str().unwrap()),
            Some(&buyer.token),
        )
        .await;
    r.expect_problem(403, "/problems/forbidden");
    // Once seats are out, the map cannot change.
    order(
        &app,
        &buyer.token,
        &show,
        json!([{"seats": [show.seat("Stalls A-1")]}]),
    )
    .await
    .expect(201);
    let mine = layout(&app, &show.organizer).await;
    let r = app
        .put(
            &format!("/api/v1/shows/{}/seating", show.show_id),
            Some(&app.token_for(&show.organizer)),
            &json!({"layout_id": mine["id"],
                "categories": [{"category": "S", "zone_id": show.stalls}, {"category": "B", "zone_id": show.balcony}]}),
        )
        .await;
    r.expect_problem(409, "/problems/in-use");
}

async fn seats_survive_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let show = seated_show(&app, 8, 600).await;
    let (ana, bo) = (app.buyer().await, app.buyer().await);
    let sold = order(
        &app,
        &ana.token,
        &show,
        json!([{"seats": [show.seat("Stalls B-5"), show.seat("Balcony G-1")]}, {"zone_id": show.standing, "quantity": 2}]),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.confirm(&ana.token, &sold).await.expect(200);
    let held = order(
        &app,
        &bo.token,
        &show,
        json!([{"zone_id": show.stalls, "best_available": 3}]),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = status(&app, &show).await;
    app.restart().await;
    let after = status(&app, &show).await;
    assert_eq!(after["runs"], before["runs"]);
    assert_eq!(
        (after["held"].as_u64(), after["sold"].as_u64()),
        (Some(3), Some(2))
    );
    let s = sales(&app, &show).await;
    assert_eq!(s["consistent"], true, "{s}");
    // The restored orders release and refund exactly their seats.
    app.cancel(&bo.token, &held).await.expect(200);
    assert_eq!(seat_counts(&app, &show).await, (67, 0, 2, 1));
    let taken = order(
        &app,
        &bo.token,
        &show,
        json!([{"seats": [show.seat("Stalls B-5")]}]),
    )
    .await;
    taken.expect_problem(409, "/problems/seat-taken");
}

async fn an_order_is_paid_as_one_sum_and_refunded_seat_by_seat(backend: Backend) {
    let (app, _sim) =
        TestApp::spawn_with_gateway(backend, paysim::SimulatorKnobs::default(), |_| {}).await;
    let show = seated_show(&app, 6, 600).await;
    let buyer = app.buyer().await;
    let booking = order(
        &app,
        &buyer.token,
        &show,
        json!([{"zone_id": show.standing, "quantity": 2}, {"seats": [show.seat("Balcony G-4"), show.seat("Stalls D-7")]}]),
    )
    .await
    .expect(201)
    .clone();
    let id = booking["id"].as_str().unwrap().to_owned();
    let r = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{id}/checkout")))
        .bearer_auth(&buyer.token)
        .header("idempotency-key", format!("pay-{id}"))
        .json(&json!({"payment_method": "pm_card_ok"}))
        .send()
        .await
        .unwrap();
    let started = read(r).await;
    assert_eq!(
        started.expect(202)["payment"]["amount_minor"],
        2 * 1000 + 2000 + 3000
    );
    let settled = |status: &'static str| {
        let (app, token, id) = (&app, buyer.token.clone(), id.clone());
        async move {
            crate::support::eventually(std::time::Duration::from_secs(15), status, || async {
                let r = app
                    .get(&format!("/api/v1/bookings/{id}"), Some(&token))
                    .await;
                (r.body["status"] == status).then(|| r.body.clone())
            })
            .await
        }
    };
    let paid = settled("confirmed").await;
    assert_eq!(seat_labels(&paid), ["Balcony G-4", "Stalls D-7"]);
    assert_eq!(seat_counts(&app, &show).await, (67, 0, 2, 1));
    let payments = app
        .get(
            &format!("/api/v1/bookings/{id}/payments"),
            Some(&buyer.token),
        )
        .await;
    assert_eq!(payments.expect(200)["booking"]["items"], paid["items"]);
    app.post(
        &format!("/api/v1/bookings/{id}/refund"),
        Some(&buyer.token),
        &json!({}),
    )
    .await
    .expect(202);
    settled("refunded").await;
    assert_eq!(seat_counts(&app, &show).await, (69, 0, 0, 1));
    let s = sales(&app, &show).await;
    assert_eq!(zone_of(&s, &show.standing), (0, 0, 50));
    assert_eq!(s["consistent"], true, "{s}");
}

on_every_engine!(
    an_order_is_paid_as_one_sum_and_refunded_seat_by_seat,
    buyers_racing_for_overlapping_seats_each_win_whole_or_nothing,
    an_order_of_several_zones_is_taken_whole_or_not_at_all,
    bad_seat_requests_name_the_field_and_hold_nothing,
    seat_status_is_cacheable_and_drawn,
    only_the_owner_seats_a_show,
    seats_survive_a_restart,
);

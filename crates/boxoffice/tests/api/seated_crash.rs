//! `kill -9` in the middle of a seated on-sale: acknowledged seat holds survive with
//! their seats, seats of unacknowledged holds go back on sale, and no seat is ever
//! both sold and free or held by two bookings after the restart.
use crate::crash::{admin_token, bulk, call, kill_mid_sale, sale, Setup};
use crate::on_every_engine;
use crate::support::{client, Backend, RedisServer, TestDb};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ROWS: u64 = 3;
const WORKERS: usize = 24;

/// The status letter of every seat, in index order.
fn states(status: &Value) -> Vec<char> {
    let runs = status["runs"].as_str().unwrap();
    let mut out = Vec::new();
    let mut n = String::new();
    for c in runs.chars() {
        if c.is_ascii_digit() {
            n.push(c);
        } else {
            out.extend(std::iter::repeat_n(c, n.parse().unwrap()));
            n.clear();
        }
    }
    out
}

/// Seat ids of a booking.
fn seats_of(booking: &Value) -> Vec<String> {
    booking["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["seat"]["id"].as_str().map(str::to_owned))
        .collect()
}

async fn acknowledged_seat_holds_survive_kill_9(backend: Backend) {
    let db = TestDb::create(backend).await;
    let work = tempfile::tempdir().unwrap();
    // With the Redis engine, Redis outlives the killed process, as it would.
    let redis = (backend == Backend::Redis).then(RedisServer::start);
    let setup = Setup {
        database_url: db.url.clone(),
        dir: work.path().to_owned(),
        env: redis
            .iter()
            .map(|r| ("BOXOFFICE_REDIS_URL".to_owned(), r.url()))
            .collect(),
    };
    setup.create_admin().await;
    let mut first = setup.serve("first").await;
    let http = client();
    let admin = admin_token(&http, &first).await;
    let (show_id, zone_id) = sale(&http, &first, &admin, 1, 5000).await;
    let orgs = call(&http, first.url("/api/v1/organizations"), &admin, None).await;
    let org = orgs.expect(200).as_array().unwrap()[0]["id"].clone();
    let rows: Vec<Value> = (1..=ROWS)
        .map(|r| json!({"section": "Arena", "row": r.to_string(), "first": 1, "count": 100, "x": 0, "y": 10 * r, "category": "A"}))
        .collect();
    let layout = call(
        &http,
        first.url("/api/v1/layouts"),
        &admin,
        Some(json!({"organization_id": org, "name": "Crash Arena", "rows": rows})),
    )
    .await;
    let layout_id = layout.expect(201)["id"].clone();
    let seated = http
        .put(first.url(&format!("/api/v1/shows/{show_id}/seating")))
        .bearer_auth(&admin)
        .json(
            &json!({"layout_id": layout_id, "categories": [{"category": "A", "zone_id": zone_id}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(seated.status(), 200);
    let index: HashMap<String, usize> = layout.body["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["index"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let best =
        |n: u32| json!({"show_id": show_id, "items": [{"zone_id": zone_id, "best_available": n}]});

    let buyers = bulk(&http, &first, &admin, 200, "seats").await;
    let early = call(
        &http,
        first.url("/api/v1/bookings/reserve"),
        &buyers[0],
        Some(best(3)),
    )
    .await;
    let early = early.expect(201).clone();
    let early_id = early["id"].as_str().unwrap().to_owned();
    call(
        &http,
        first.url(&format!("/api/v1/bookings/{early_id}/confirm")),
        &buyers[0],
        Some(json!({})),
    )
    .await
    .expect(200);

    // The storm: each worker's buyers ask for two seats together, back to back.
    let acked = Arc::new(Mutex::new(Vec::<Value>::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let url = first.url("/api/v1/bookings/reserve");
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let mine: Vec<String> = buyers
                .iter()
                .skip(1 + w)
                .step_by(WORKERS)
                .cloned()
                .collect();
            let (http, url, body) = (http.clone(), url.clone(), best(2));
            let (acked, failed) = (acked.clone(), failed.clone());
            tokio::spawn(async move {
                for token in mine {
                    let sent = http.post(&url).bearer_auth(&token).json(&body).send().await;
                    let Ok(res) = sent else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let status = res.status();
                    let Ok(text) = res.text().await else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    assert_eq!(
                        status, 201,
                        "before the kill every reserve succeeds: {text}"
                    );
                    acked
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(&text).unwrap());
                }
            })
        })
        .collect();
    let acked = kill_mid_sale(&mut first, workers, &acked, 40).await;
    assert!(failed.load(Ordering::SeqCst) > 0, "requests were in flight");
    assert!((acked.len() as u64) < 99, "killed mid-sale");

    let second = setup.serve("second").await;
    let status_url = second.url(&format!("/api/v1/shows/{show_id}/seats"));
    let status = call(&http, status_url.clone(), &admin, None).await;
    let seats = states(status.expect(200));
    assert_eq!(seats.len() as u64, ROWS * 100);
    // Every acknowledged hold kept its own two seats.
    let mut owner: HashMap<String, String> = HashMap::new();
    for b in &acked {
        let id = b["id"].as_str().unwrap();
        let now = call(
            &http,
            second.url(&format!("/api/v1/bookings/{id}")),
            &admin,
            None,
        )
        .await;
        let now = now.expect(200);
        assert_eq!(now["status"], "held", "acknowledged hold {id}");
        assert_eq!(
            seats_of(now),
            seats_of(b),
            "the same seats after the restart"
        );
        for s in seats_of(now) {
            assert_eq!(seats[index[&s]], 'h', "seat {s} of {id} is held");
            assert!(
                owner.insert(s, id.to_owned()).is_none(),
                "a seat in two holds"
            );
        }
    }
    for s in seats_of(&early) {
        assert_eq!(seats[index[&s]], 's', "the sold seat {s} stays sold");
    }
    // Whatever else is held belongs to a stored hold that committed unacknowledged.
    let held = seats.iter().filter(|c| **c == 'h').count();
    assert_eq!(held % 2, 0, "holds are whole pairs");
    assert!(held >= acked.len() * 2);
    let sales = call(
        &http,
        second.url(&format!("/api/v1/shows/{show_id}/sales")),
        &admin,
        None,
    )
    .await;
    assert_eq!(sales.expect(200)["consistent"], true, "{}", sales.text);
    let store = boxoffice::store::SqlStore::connect(&db.url, 2, Default::default())
        .await
        .unwrap();
    let live = boxoffice::store::SeatingStore::live_items(&store)
        .await
        .unwrap();
    let mut seen = HashSet::new();
    let mut stored_held = 0;
    for item in live.iter().filter(|i| i.show_id.to_string() == show_id) {
        let seat = item.seat_id.expect("seated lines").to_string();
        assert!(
            seen.insert(seat.clone()),
            "seat {seat} in two live bookings"
        );
        let expected = if item.status.is_pending() { 'h' } else { 's' };
        assert_eq!(
            seats[index[&seat]], expected,
            "the record and the map agree on {seat}"
        );
        stored_held += usize::from(item.status.is_pending());
    }
    assert_eq!(stored_held, held, "every held seat is in a stored hold");
    store.close().await;

    // The rest of the arena sells seat by seat, to exactly its size.
    let late = bulk(&http, &second, &admin, 150, "late").await;
    let url = second.url("/api/v1/bookings/reserve");
    let mut won = 0;
    for token in &late {
        for _ in 0..2 {
            let r = call(&http, url.clone(), token, Some(best(1))).await;
            match r.status.as_u16() {
                201 => won += 1,
                409 => assert_eq!(r.body["type"], "/problems/sold-out", "{}", r.text),
                _ => panic!("unexpected answer: {}", r.text),
            }
        }
    }
    assert_eq!(won, seats.iter().filter(|c| **c == 'f').count());
    let status = call(&http, status_url, &admin, None).await;
    let after = status.expect(200);
    assert_eq!(after["free"], 0);
    assert_eq!(
        after["held"].as_u64().unwrap() + after["sold"].as_u64().unwrap(),
        ROWS * 100
    );
    drop(second);
    drop(work);
}

on_every_engine!(acknowledged_seat_holds_survive_kill_9);

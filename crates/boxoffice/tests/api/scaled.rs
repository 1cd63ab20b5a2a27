//! The scaled mode's inventory: live counters in a Redis server of the test's own,
//! PostgreSQL as the record. Redis may restart empty at any moment, even in the middle
//! of a rush: holds are refused (503) until it is rebuilt from the record, nothing is
//! sold twice, and the sale then completes.
use crate::concurrency::rush;
use crate::support::{zone_totals, Backend, Resp, ShowSpec, TestApp};
use redis::AsyncCommands;
use serde_json::Value;
use std::time::{Duration, Instant};

const CAPACITY: u64 = 120;

async fn redis_of(app: &TestApp) -> redis::aio::MultiplexedConnection {
    let url = app.redis.as_ref().expect("a Redis backend").url();
    redis::Client::open(url)
        .expect("a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers")
}

/// The zone's held and sold tickets as Redis has them.
async fn redis_counts(app: &TestApp, show: &str, zone: &str) -> (Option<u64>, Option<u64>) {
    let mut con = redis_of(app).await;
    let key = format!("bo:{{show:{show}}}:z");
    let held: Option<u64> = con.hget(&key, format!("{zone}:h")).await.expect("HGET");
    let sold: Option<u64> = con.hget(&key, format!("{zone}:s")).await.expect("HGET");
    (held, sold)
}

/// Waits until readiness is 200 with the inventory check up.
async fn until_ready(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = app.get("/health/ready", None).await;
        if r.status == 200 {
            return r.body.clone();
        }
        assert!(
            Instant::now() < deadline,
            "ready again within 20 s: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn check<'a>(ready: &'a Value, name: &str) -> &'a Value {
    ready["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("readiness lists {name}: {ready}"))
}

/// Splits answers into granted hold ids, sold-out refusals and unavailable ones;
/// anything else fails the test.
fn sort(responses: &[Resp]) -> (Vec<String>, usize, usize) {
    let mut granted = Vec::new();
    let (mut sold_out, mut unavailable) = (0, 0);
    for r in responses {
        match r.status.as_u16() {
            201 => granted.push(r.body["id"].as_str().expect("id").to_owned()),
            409 => {
                assert_eq!(r.body["type"], "/problems/sold-out", "{}", r.text);
                sold_out += 1;
            }
            503 => {
                assert_eq!(r.body["type"], "/problems/unavailable", "{}", r.text);
                unavailable += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    (granted, sold_out, unavailable)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_lives_in_redis_and_is_rebuilt_after_redis_restarts_empty() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    let (show, buyers) = app.crowd(CAPACITY, 200).await;
    let ready = until_ready(&app).await;
    assert_eq!(check(&ready, "inventory")["status"], "up", "{ready}");
    assert_eq!(check(&ready, "inventory")["required"], true, "{ready}");

    let first = rush(&app, &buyers[..50], &show.show_id, &show.zone_id).await;
    let (granted, _, _) = sort(&first);
    assert_eq!(granted.len(), 50);
    assert_eq!(
        redis_counts(&app, &show.show_id, &show.zone_id).await,
        (Some(50), Some(0)),
        "the counters are Redis's"
    );

    // Scripts flushed: the next call loads them again.
    let mut con = redis_of(&app).await;
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(&mut con)
        .await
        .expect("SCRIPT FLUSH");
    let token = &buyers[50].1;
    let id = app.hold(token, &show, 1).await;
    app.confirm(token, &id).await.expect(200);
    assert_eq!(
        redis_counts(&app, &show.show_id, &show.zone_id).await,
        (Some(50), Some(1))
    );

    // Redis restarts with nothing: the node notices, refuses holds meanwhile, and
    // rebuilds the counters from the record.
    app.redis.as_mut().expect("redis").restart_empty();
    assert_eq!(
        redis_counts(&app, &show.show_id, &show.zone_id).await,
        (None, None)
    );
    let ready = until_ready(&app).await;
    assert_eq!(check(&ready, "inventory")["status"], "up", "{ready}");
    assert_eq!(
        redis_counts(&app, &show.show_id, &show.zone_id).await,
        (Some(50), Some(1)),
        "rebuilt from the record"
    );

    // The rest of the sale: exactly what was left is sold, to the ticket.
    let second = rush(&app, &buyers[51..], &show.show_id, &show.zone_id).await;
    let (won, sold_out, unavailable) = sort(&second);
    assert_eq!(unavailable, 0);
    assert_eq!(won.len() as u64, CAPACITY - 51);
    assert_eq!(sold_out, buyers.len() - 51 - won.len());
    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (CAPACITY - 1, 1, 0));
    assert_eq!(sales["consistent"], true, "{sales}");

    // A restart of the node writes the same state again.
    app.restart().await;
    assert_eq!(
        redis_counts(&app, &show.show_id, &show.zone_id).await,
        (Some(CAPACITY - 1), Some(1))
    );
    let sales = app.sales(&show).await;
    assert_eq!(sales["consistent"], true, "{sales}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_in_the_middle_of_a_rush_never_sells_a_ticket_twice() {
    let mut app = TestApp::spawn(Backend::Redis).await;
    let (show, buyers) = app.crowd(CAPACITY, 400).await;
    // Three waves; Redis restarts empty while the second is in flight.
    let first = rush(&app, &buyers[..60], &show.show_id, &show.zone_id).await;
    let (mut granted, _, _) = sort(&first);
    let mut redis = app.redis.take().expect("redis");
    let chaos = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        redis.restart_empty();
        redis
    });
    let second = rush(&app, &buyers[60..260], &show.show_id, &show.zone_id).await;
    app.redis = Some(chaos.join().expect("restarted"));
    let (won, sold_out, unavailable) = sort(&second);
    eprintln!(
        "during the loss: {} granted, {sold_out} sold out, {unavailable} unavailable",
        won.len()
    );
    granted.extend(won);
    until_ready(&app).await;
    // Whatever the moment of the loss, the rebuilt counters are the record's.
    let sales = app.sales(&show).await;
    assert_eq!(sales["consistent"], true, "{sales}");
    let (held, _, _) = zone_totals(&sales);
    assert_eq!(held, granted.len() as u64);

    let third = rush(&app, &buyers[260..], &show.show_id, &show.zone_id).await;
    let (won, sold_out, unavailable) = sort(&third);
    assert_eq!(unavailable, 0);
    granted.extend(won);
    assert!(sold_out > 0, "the sale sold out");
    assert_eq!(
        granted.len() as u64,
        CAPACITY,
        "sold to the last ticket, not one more"
    );
    let distinct: std::collections::HashSet<_> = granted.iter().collect();
    assert_eq!(distinct.len() as u64, CAPACITY);
    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (CAPACITY, 0, 0));
    assert_eq!(sales["consistent"], true, "{sales}");
    let live = app.state.store.live_bookings().await.expect("bookings");
    assert_eq!(
        live.iter().map(|b| u64::from(b.quantity)).sum::<u64>(),
        CAPACITY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_that_persists_is_repaired_from_the_record_and_counted() {
    let app = TestApp::spawn_with(Backend::Redis, |c| c.reconcile_interval_secs = 1).await;
    let admin = app.admin().await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyers = app.bulk_buyers(&admin, 5).await;
    for (_, token) in &buyers {
        app.hold(token, &show, 2).await;
    }
    assert_eq!(
        redis_counts(&app, &show.show_id, &show.zone_id).await,
        (Some(10), Some(0))
    );
    // Something outside the rules moves the counters (an operator, a bug).
    let mut con = redis_of(&app).await;
    let key = format!("bo:{{show:{}}}:z", show.show_id);
    let _: i64 = con
        .hincr(&key, format!("{}:h", show.zone_id), 3)
        .await
        .expect("HINCRBY");
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis_counts(&app, &show.show_id, &show.zone_id).await != (Some(10), Some(0)) {
        assert!(Instant::now() < deadline, "repaired within 20 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let repaired: f64 = app
        .scrape()
        .await
        .iter()
        .filter(|s| s.name == "inventory_drift_repaired_total")
        .filter(|s| s.labels.get("show") == Some(&show.show_id))
        .map(|s| s.value)
        .sum();
    assert_eq!(repaired, 3.0);
    let sales = app.sales(&show).await;
    assert_eq!(sales["consistent"], true, "{sales}");
    // The repaired state keeps its holds: each still ends exactly once.
    let (buyer, token) = &buyers[0];
    let mine = app
        .get("/api/v1/bookings", Some(token))
        .await
        .expect(200)
        .clone();
    let id = mine["items"][0]["id"]
        .as_str()
        .expect("a booking")
        .to_owned();
    assert_eq!(mine["items"][0]["user_id"], buyer.as_str());
    app.cancel(token, &id).await.expect(200);
    assert_eq!(
        redis_counts(&app, &show.show_id, &show.zone_id).await,
        (Some(8), Some(0))
    );
}

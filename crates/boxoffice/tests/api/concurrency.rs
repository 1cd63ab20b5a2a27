//! A flash sale: hundreds of buyers race for fewer tickets through HTTP at once.
//! Exactly the capacity is held, everyone else hears "sold out", and the counters
//! match the record after every later step.
use crate::on_every_engine;
use crate::support::{read, zone_totals, Backend, Resp, TestApp};
use serde_json::json;
use std::collections::HashSet;

const BUYERS: u32 = 500;
const CAPACITY: u64 = 100;

/// Every buyer reserves one ticket at the same moment; the answers in buyer order.
pub(crate) async fn rush(
    app: &TestApp,
    buyers: &[(String, String)],
    show: &str,
    zone: &str,
) -> Vec<Resp> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(buyers.len()));
    let tasks: Vec<_> = buyers
        .iter()
        .map(|(_, token)| {
            let client = app.client.clone();
            let url = app.url("/api/v1/bookings/reserve");
            let body = json!({"show_id": show, "zone_id": zone, "quantity": 1});
            let token = token.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let res = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .expect("answered");
                read(res).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

async fn flash_sale_never_oversells(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (show, buyers) = app.crowd(CAPACITY, BUYERS).await;

    let responses = rush(&app, &buyers, &show.show_id, &show.zone_id).await;
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for (buyer, r) in buyers.iter().zip(&responses) {
        match r.status.as_u16() {
            201 => {
                assert_eq!(r.body["user_id"], buyer.0.as_str());
                winners.push((buyer.clone(), r.body["id"].as_str().unwrap().to_owned()));
            }
            409 => {
                assert_eq!(r.body["type"], "/problems/sold-out", "{}", r.text);
                losers.push(buyer.clone());
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(winners.len() as u64, CAPACITY);
    assert_eq!(losers.len() as u64, u64::from(BUYERS) - CAPACITY);
    let distinct: HashSet<_> = winners.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(distinct.len() as u64, CAPACITY);

    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (CAPACITY, 0, 0));
    assert_eq!(sales["zones"][0]["recorded_held"], CAPACITY);
    assert_eq!(sales["consistent"], true, "{sales}");
    let reserved = app
        .outbox()
        .await
        .iter()
        .filter(|e| e.event_type == "booking.reserved")
        .count();
    assert_eq!(reserved as u64, CAPACITY);

    // Half confirm, a fifth cancel, the rest stay held.
    let (confirming, rest) = winners.split_at(50);
    let (cancelling, _) = rest.split_at(20);
    let steps: Vec<_> = confirming
        .iter()
        .map(|w| (w.clone(), "confirm", "confirmed"))
        .chain(
            cancelling
                .iter()
                .map(|w| (w.clone(), "cancel", "cancelled")),
        )
        .map(|(((_, token), id), action, status)| {
            let client = app.client.clone();
            let url = app.url(&format!("/api/v1/bookings/{id}/{action}"));
            tokio::spawn(async move {
                let r = read(
                    client
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({}))
                        .send()
                        .await
                        .expect("answered"),
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.text);
                assert_eq!(r.body["status"], status);
            })
        })
        .collect();
    for s in steps {
        s.await.expect("step");
    }
    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (30, 50, 20));
    assert_eq!(sales["consistent"], true, "{sales}");

    // The 20 released tickets go to exactly 20 of the buyers who missed out.
    let second = rush(&app, &losers, &show.show_id, &show.zone_id).await;
    let won = second.iter().filter(|r| r.status == 201).count();
    let sold_out = second
        .iter()
        .filter(|r| r.status == 409 && r.body["type"] == "/problems/sold-out")
        .count();
    assert_eq!((won, sold_out), (20, losers.len() - 20));
    let sales = app.sales(&show).await;
    assert_eq!(zone_totals(&sales), (50, 50, 0));
    assert_eq!(sales["consistent"], true, "{sales}");
    let live = app.state.store.live_bookings().await.unwrap();
    assert_eq!(
        live.iter().map(|b| u64::from(b.quantity)).sum::<u64>(),
        CAPACITY
    );
}

on_every_engine!(flash_sale_never_oversells);

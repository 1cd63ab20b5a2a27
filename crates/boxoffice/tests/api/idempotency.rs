//! `Idempotency-Key` replays, mismatches and per-caller scoping; `X-Request-Id`
//! propagation.
use crate::support::{assert_problem_shape, read, zone_totals, Backend, Resp, ShowSpec, TestApp};
use serde_json::{json, Value};

async fn reserve_with_key(app: &TestApp, token: &str, key: &str, body: &Value) -> Resp {
    let res = app
        .client
        .post(app.url("/api/v1/bookings/reserve"))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("answered");
    read(res).await
}

#[tokio::test]
async fn the_same_key_and_body_replay_the_first_response() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let body = json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 2});

    let first = reserve_with_key(&app, &buyer.token, "order-7f3a", &body).await;
    first.expect(201);
    assert_eq!(first.header("idempotent-replayed"), Some("false"));
    let replay = reserve_with_key(&app, &buyer.token, "order-7f3a", &body).await;
    replay.expect(201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, first.text, "the very same response");
    assert_eq!(replay.header("content-type"), first.header("content-type"));

    let mine = app.get("/api/v1/bookings", Some(&buyer.token)).await;
    assert_eq!(mine.expect(200)["total"], 1, "only one booking exists");
    assert_eq!(zone_totals(&app.sales(&show).await).0, 2);
    assert_eq!(app.outbox().await.len(), 1);

    // A different request under the same key is refused, and takes nothing.
    let other = json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 3});
    let r = reserve_with_key(&app, &buyer.token, "order-7f3a", &other).await;
    r.expect_problem(422, "/problems/idempotency-key-reused");
    assert_eq!(zone_totals(&app.sales(&show).await).0, 2);

    // Refusals are replayed as well: the key remembers its first answer.
    let limited = json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 5});
    let refused = reserve_with_key(&app, &buyer.token, "order-8b11", &limited).await;
    refused.expect_problem(409, "/problems/limit-reached");
    let again = reserve_with_key(&app, &buyer.token, "order-8b11", &limited).await;
    assert_eq!(again.status, refused.status);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["type"], "/problems/limit-reached");

    // A new key is a new request.
    let fresh = reserve_with_key(&app, &buyer.token, "order-9c22", &body).await;
    fresh.expect(201);
    assert_ne!(fresh.body["id"], first.body["id"]);
    let mine = app.get("/api/v1/bookings", Some(&buyer.token)).await;
    assert_eq!(mine.expect(200)["total"], 2);

    // Keys must be printable ASCII.
    let r = reserve_with_key(&app, &buyer.token, &"k".repeat(300), &body).await;
    r.expect_field_error("Idempotency-Key");
    assert_eq!(zone_totals(&app.sales(&show).await).0, 4);
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app.show_with(ShowSpec::default()).await;
    let ana = app.buyer().await;
    let bruno = app.buyer().await;
    let body = json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 1});

    let a = reserve_with_key(&app, &ana.token, "checkout-1", &body).await;
    let b = reserve_with_key(&app, &bruno.token, "checkout-1", &body).await;
    a.expect(201);
    b.expect(201);
    assert_eq!(b.header("idempotent-replayed"), Some("false"));
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(a.body["user_id"], ana.id.to_string());
    assert_eq!(b.body["user_id"], bruno.id.to_string());
    assert_eq!(zone_totals(&app.sales(&show).await).0, 2);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let res = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "trace-abc-123");

    let a = app.get("/health/live", None).await;
    let b = app.get("/health/live", None).await;
    let id_a = a.header("x-request-id").expect("generated").to_owned();
    let id_b = b.header("x-request-id").expect("generated").to_owned();
    assert!(uuid::Uuid::parse_str(&id_a).is_ok(), "a UUID: {id_a}");
    assert_ne!(id_a, id_b, "a new id per request");

    // Problems carry the id too, sent or generated.
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("x-request-id", "trace-def-456")
        .send()
        .await
        .unwrap();
    let r = read(res).await;
    r.expect(401);
    assert_problem_shape(&r);
    assert_eq!(r.body["request_id"], "trace-def-456");
    let r = app.get("/api/v1/nowhere", None).await;
    r.expect(404);
    assert_problem_shape(&r);
    assert!(uuid::Uuid::parse_str(r.body["request_id"].as_str().unwrap()).is_ok());
}

//! The checkout saga through the HTTP API against the payment simulator on a port of
//! its own: captures confirm, declines keep the hold for another try, free tickets
//! skip the gateway, forged webhooks are refused, refunds follow the show's policy,
//! a gateway that is down fails fast, and a payment that arrives after its hold has
//! ended is confirmed if the tickets are still there and refunded if not.
use crate::on_every_engine;
use crate::support::{eventually, read, Backend, PaySim, Resp, ShowFixture, ShowSpec, TestApp};
use paysim::SimulatorKnobs;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

async fn checkout(app: &TestApp, token: &str, booking: &str, card: &str, key: &str) -> Resp {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{booking}/checkout")))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"payment_method": card}))
        .send()
        .await
        .expect("answered");
    read(res).await
}

/// A checkout that asks to wait for the outcome (`Prefer: wait=N`).
async fn checkout_waiting(app: &TestApp, token: &str, booking: &str, card: &str) -> Resp {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{booking}/checkout")))
        .bearer_auth(token)
        .header("prefer", "wait=10")
        .json(&json!({"payment_method": card}))
        .send()
        .await
        .expect("answered");
    let applied = res
        .headers()
        .get("preference-applied")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(applied.as_deref(), Some("wait=10"));
    read(res).await
}

/// Waits until the booking reaches `status`.
async fn settles(app: &TestApp, token: &str, booking: &str, status: &str) -> Value {
    eventually(
        WAIT,
        &format!("booking {booking} to be {status}"),
        || async {
            let r = app
                .get(&format!("/api/v1/bookings/{booking}"), Some(token))
                .await;
            (r.body["status"] == status).then(|| r.body.clone())
        },
    )
    .await
}

async fn money_of(app: &TestApp, token: &str, booking: &str) -> Value {
    app.get(&format!("/api/v1/bookings/{booking}/payments"), Some(token))
        .await
        .expect(200)
        .clone()
}

async fn sales(app: &TestApp, show: &ShowFixture) -> Value {
    app.get(
        &format!("/api/v1/shows/{}/sales", show.show_id),
        Some(&show.organizer.token),
    )
    .await
    .expect(200)
    .clone()
}

/// What the gateway captured and refunded for one booking.
fn at_gateway(sim: &PaySim, booking: &str) -> (i64, i64, usize) {
    let ledger = sim.handle.ledger();
    let mine: Vec<_> = ledger
        .intents
        .iter()
        .filter(|i| i.booking_id == booking)
        .collect();
    (
        mine.iter().map(|i| i.captured).sum(),
        mine.iter().map(|i| i.refunded).sum(),
        mine.len(),
    )
}

fn kinds(money: &Value) -> Vec<String> {
    money["ledger"]
        .as_array()
        .expect("ledger")
        .iter()
        .map(|l| l["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_paid_hold_is_confirmed_by_its_capture(backend: Backend) {
    let (app, sim) = TestApp::spawn_with_gateway(backend, SimulatorKnobs::default(), |_| {}).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let booking = app.hold(&buyer.token, &show, 2).await;

    // A paid booking is not confirmed by asking.
    app.confirm(&buyer.token, &booking)
        .await
        .expect_problem(409, "/problems/payment-required");

    let first = checkout(&app, &buyer.token, &booking, "pm_card_ok", "pay-1").await;
    let started = first.expect(202);
    assert_eq!(started["payment"]["amount_minor"], 5000);
    assert_eq!(started["payment"]["attempt"], 1);
    let payment_id = started["payment"]["id"].as_str().unwrap().to_owned();
    // The same request again is the same attempt, never a second charge.
    let replay = checkout(&app, &buyer.token, &booking, "pm_card_ok", "pay-1").await;
    assert_eq!(replay.expect(202)["payment"]["id"], payment_id.as_str());

    settles(&app, &buyer.token, &booking, "confirmed").await;
    let money = money_of(&app, &buyer.token, &booking).await;
    assert_eq!(money["payments"].as_array().unwrap().len(), 1);
    assert_eq!(money["payments"][0]["status"], "succeeded");
    assert_eq!(kinds(&money), vec!["charge", "capture"]);
    assert_eq!(at_gateway(&sim, &booking), (5000, 0, 1));

    let report = sales(&app, &show).await;
    assert_eq!(report["zones"][0]["sold"], 2);
    assert_eq!(report["revenue"]["captured_minor"], 5000);
    assert_eq!(report["revenue"]["net_minor"], 5000);
    assert_eq!(report["revenue"]["mismatches"], json!([]));
    assert_eq!(report["consistent"], true);

    // Paying a confirmed booking again is refused.
    checkout(&app, &buyer.token, &booking, "pm_card_ok", "pay-2")
        .await
        .expect_problem(409, "/problems/invalid-state");
    app.stop().await;
}

async fn a_declined_card_keeps_the_hold_for_another_try(backend: Backend) {
    let (app, sim) = TestApp::spawn_with_gateway(backend, SimulatorKnobs::default(), |_| {}).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let booking = app.hold(&buyer.token, &show, 1).await;

    checkout(&app, &buyer.token, &booking, "pm_card_declined", "try-1")
        .await
        .expect(202);
    settles(&app, &buyer.token, &booking, "payment_failed").await;
    let money = money_of(&app, &buyer.token, &booking).await;
    assert_eq!(money["payments"][0]["status"], "failed");
    assert_eq!(money["payments"][0]["failure_code"], "card_declined");
    // Still held: nobody else can take the ticket meanwhile.
    assert_eq!(sales(&app, &show).await["zones"][0]["held"], 1);

    let again = checkout(&app, &buyer.token, &booking, "pm_card_ok", "try-2").await;
    assert_eq!(again.expect(202)["payment"]["attempt"], 2);
    settles(&app, &buyer.token, &booking, "confirmed").await;
    assert_eq!(at_gateway(&sim, &booking), (2500, 0, 2));
    app.stop().await;
}

async fn free_tickets_skip_the_gateway(backend: Backend) {
    let (app, sim) = TestApp::spawn_with_gateway(backend, SimulatorKnobs::default(), |_| {}).await;
    let show = app
        .show_with(ShowSpec {
            price_minor: Some(0),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let booking = app.hold(&buyer.token, &show, 2).await;
    let done = checkout(&app, &buyer.token, &booking, "pm_card_ok", "free-1").await;
    let body = done.expect(202);
    assert_eq!(body["booking"]["status"], "confirmed");
    assert_eq!(body["payment"], Value::Null);
    assert_eq!(sim.handle.ledger().intents.len(), 0);
    // And the confirm endpoint still works for them.
    let other = app.hold(&buyer.token, &show, 1).await;
    app.confirm(&buyer.token, &other).await.expect(200);
    app.stop().await;
}

async fn forged_webhooks_are_refused(backend: Backend) {
    let (app, sim) = TestApp::spawn_with_gateway(backend, SimulatorKnobs::default(), |_| {}).await;
    let body = json!({
        "id": "evt_forged",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"id": "pi_forged", "object": "payment_intent", "status": "succeeded",
            "amount": 100, "currency": "EUR", "payment_method": "pm_card_ok", "created": 1,
            "captured_at": 1, "failure_code": null, "amount_refunded": 0,
            "metadata": {"booking_id": "01890a5d-ac96-774b-bcce-b302099a8057", "payment_id": "nope"}}}
    })
    .to_string();
    let post = |signature: Option<String>| {
        let body = body.clone();
        let app = &app;
        async move {
            let mut req = app
                .client
                .post(app.url("/api/v1/payments/webhook"))
                .header("content-type", "application/json")
                .body(body);
            if let Some(s) = signature {
                req = req.header("paysim-signature", s);
            }
            read(req.send().await.expect("answered")).await
        }
    };
    post(None)
        .await
        .expect_problem(401, "/problems/unauthorized");
    post(Some(sim.sign(&body, 0, Some("whsec_not_the_secret"))))
        .await
        .expect_problem(401, "/problems/unauthorized");
    post(Some(sim.sign(&body, 3600, None)))
        .await
        .expect_problem(401, "/problems/unauthorized");
    // Well signed, but for a payment we never made.
    post(Some(sim.sign(&body, 0, None)))
        .await
        .expect_problem(404, "/problems/not-found");
    app.stop().await;
}

async fn refunds_follow_the_policy(backend: Backend) {
    let (app, sim) = TestApp::spawn_with_gateway(backend, SimulatorKnobs::default(), |_| {}).await;
    // A month ahead: the default policy gives everything back.
    let early = app.show_with(ShowSpec::default()).await;
    // Two hours ahead: outside the policy, the organizer decides.
    let late = app
        .show_with(ShowSpec {
            starts_in_secs: Some(2 * 3600),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let mut paid = Vec::new();
    for show in [&early, &late] {
        let b = app.hold(&buyer.token, show, 2).await;
        checkout(&app, &buyer.token, &b, "pm_card_ok", &format!("k-{b}"))
            .await
            .expect(202);
        settles(&app, &buyer.token, &b, "confirmed").await;
        paid.push(b);
    }

    let r = app
        .post(
            &format!("/api/v1/bookings/{}/refund", paid[0]),
            Some(&buyer.token),
            &json!({}),
        )
        .await;
    assert_eq!(r.expect(202)["percent"], 100);
    settles(&app, &buyer.token, &paid[0], "refunded").await;
    assert_eq!(at_gateway(&sim, &paid[0]), (5000, 5000, 1));
    let report = sales(&app, &early).await;
    assert_eq!(
        report["zones"][0]["sold"], 0,
        "the tickets are back on sale"
    );
    assert_eq!(report["revenue"]["net_minor"], 0);
    assert_eq!(report["revenue"]["mismatches"], json!([]));
    // The refunded tickets' codes no longer open the door.
    eventually(WAIT, "the refunded tickets to be revoked", || async {
        let r = app
            .get(
                &format!("/api/v1/bookings/{}/tickets", paid[0]),
                Some(&buyer.token),
            )
            .await;
        let tickets = r.expect(200).as_array().cloned().unwrap_or_default();
        (tickets.len() == 2
            && tickets
                .iter()
                .all(|t| t["status"] == "revoked" && t["revoke_reason"] == "refunded"))
        .then_some(())
    })
    .await;

    let r = app
        .post(
            &format!("/api/v1/bookings/{}/refund", paid[1]),
            Some(&buyer.token),
            &json!({}),
        )
        .await;
    let requested = r.expect(202).clone();
    assert_eq!(requested["status"], "requested");
    let refund_id = requested["id"].as_str().unwrap();
    // Another organizer and the buyer cannot decide it.
    let stranger = app.organizer().await;
    app.post(
        &format!("/api/v1/refunds/{refund_id}/approve"),
        Some(&stranger.token),
        &json!({"percent": 50}),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    app.post(
        &format!("/api/v1/refunds/{refund_id}/approve"),
        Some(&late.organizer.token),
        &json!({"percent": 101}),
    )
    .await
    .expect_field_error("percent");
    let listed = app
        .get(
            &format!("/api/v1/shows/{}/refunds?status=requested", late.show_id),
            Some(&late.organizer.token),
        )
        .await;
    assert_eq!(listed.expect(200)["total"], 1);
    app.post(
        &format!("/api/v1/refunds/{refund_id}/approve"),
        Some(&late.organizer.token),
        &json!({"percent": 50}),
    )
    .await
    .expect(200);
    settles(&app, &buyer.token, &paid[1], "partially_refunded").await;
    assert_eq!(at_gateway(&sim, &paid[1]), (5000, 2500, 1));
    let report = sales(&app, &late).await;
    assert_eq!(report["revenue"]["net_minor"], 2500);
    assert_eq!(report["revenue"]["mismatches"], json!([]));
    // A decided request is not decided again.
    app.post(
        &format!("/api/v1/refunds/{refund_id}/reject"),
        Some(&late.organizer.token),
        &json!({}),
    )
    .await
    .expect_problem(409, "/problems/invalid-state");

    // A policy of the show's own replaces the default.
    let policy = json!({"tiers": [{"min_hours_before": 1, "percent": 80}]});
    app.put(
        &format!("/api/v1/shows/{}/refund-policy", late.show_id),
        Some(&late.organizer.token),
        &policy,
    )
    .await
    .expect(200);
    let read_back = app
        .get(
            &format!("/api/v1/shows/{}/refund-policy", late.show_id),
            None,
        )
        .await;
    assert_eq!(read_back.expect(200)["tiers"], policy["tiers"]);
    assert_eq!(read_back.body["default"], false);
    app.put(
        &format!("/api/v1/shows/{}/refund-policy", late.show_id),
        Some(&late.organizer.token),
        &json!({"tiers": [{"min_hours_before": 1, "percent": 10}, {"min_hours_before": 5, "percent": 100}]}),
    )
    .await
    .expect_field_error("tiers");
    app.stop().await;
}

async fn a_gateway_that_is_down_fails_fast_and_keeps_the_hold(backend: Backend) {
    let (app, sim) = TestApp::spawn_with_gateway(backend, SimulatorKnobs::default(), |c| {
        c.payments.breaker_failures = 2;
        c.payments.breaker_open_secs = 30;
    })
    .await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    sim.handle.set_down(true);
    let mut last = None;
    for n in 0..3 {
        let booking = app.hold(&buyer.token, &show, 1).await;
        let r = checkout(
            &app,
            &buyer.token,
            &booking,
            "pm_card_ok",
            &format!("down-{n}"),
        )
        .await;
        r.expect_problem(503, "/problems/payment-unavailable");
        assert!(r.header("retry-after").is_some(), "503 says when to retry");
        last = Some(booking);
    }
    // The hold stands, and the buyer may try again once the provider is back.
    let booking = last.unwrap();
    let now = app
        .get(&format!("/api/v1/bookings/{booking}"), Some(&buyer.token))
        .await;
    assert_eq!(now.expect(200)["status"], "payment_failed");
    assert_eq!(sim.handle.ledger().intents.len(), 0);
    app.stop().await;
}

/// The hold ends while the provider cannot say what became of the money; the capture
/// that comes later is confirmed when the tickets are still there, and refunded when
/// they were sold meanwhile. Never both sold and back on sale.
async fn late_payments_are_confirmed_or_refunded(backend: Backend) {
    let knobs = SimulatorKnobs {
        processing_ms: 3_000,
        ..SimulatorKnobs::default()
    };
    let (app, sim) = TestApp::spawn_with_gateway(backend, knobs, |c| {
        c.payments.grace_secs = 0;
    })
    .await;
    // One ticket: whoever pays in time gets it.
    let show = app
        .show_with(ShowSpec {
            capacity: 1,
            hold_ttl_secs: Some(30),
            ..ShowSpec::default()
        })
        .await;
    let slow = app.buyer().await;
    let booking = app.hold(&slow.token, &show, 1).await;
    checkout(&app, &slow.token, &booking, "pm_card_ok", "slow-1")
        .await
        .expect(202);
    // The provider goes quiet, the deadline passes: the hold is released.
    sim.handle.set_down(true);
    app.clock.advance_secs(31);
    settles(&app, &slow.token, &booking, "expired").await;
    // Someone else buys the ticket before the slow payment's capture arrives.
    let quick = app.buyer().await;
    let theirs = app.hold(&quick.token, &show, 1).await;
    sim.handle.set_down(false);
    // The breaker may still be open from the outage: retry after it, as told.
    eventually(WAIT, "the provider to take payments again", || async {
        let r = checkout(&app, &quick.token, &theirs, "pm_card_ok", "quick-1").await;
        if r.status == 503 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            return None;
        }
        r.expect(202);
        Some(())
    })
    .await;
    settles(&app, &quick.token, &theirs, "confirmed").await;
    // The slow capture lands: no ticket left for it, so it goes back.
    eventually(WAIT, "the late capture to be refunded", || async {
        let (captured, refunded, _) = at_gateway(&sim, &booking);
        (captured == 2500 && refunded == 2500).then_some(())
    })
    .await;
    // The provider settles the refund first; our record follows with its webhook.
    let money = eventually(WAIT, "the refund to be recorded", || async {
        let money = money_of(&app, &slow.token, &booking).await;
        (money["refunds"][0]["status"] == "succeeded").then_some(money)
    })
    .await;
    assert_eq!(money["booking"]["status"], "expired");
    assert_eq!(money["refunds"][0]["reason"], "late_payment");
    assert_eq!(kinds(&money), vec!["charge", "capture", "refund"]);
    let report = sales(&app, &show).await;
    assert_eq!(report["zones"][0]["sold"], 1, "sold once, never twice");
    assert_eq!(report["zones"][0]["available"], 0);
    assert_eq!(report["revenue"]["net_minor"], 2500);
    assert_eq!(report["revenue"]["mismatches"], json!([]));

    // With the ticket still there, a late capture keeps the sale.
    let other = app
        .show_with(ShowSpec {
            capacity: 5,
            hold_ttl_secs: Some(30),
            ..ShowSpec::default()
        })
        .await;
    let booking = app.hold(&slow.token, &other, 1).await;
    checkout(&app, &slow.token, &booking, "pm_card_ok", "slow-2")
        .await
        .expect(202);
    sim.handle.set_down(true);
    app.clock.advance_secs(31);
    settles(&app, &slow.token, &booking, "expired").await;
    sim.handle.set_down(false);
    settles(&app, &slow.token, &booking, "confirmed").await;
    assert_eq!(at_gateway(&sim, &booking), (2500, 0, 1));
    let report = sales(&app, &other).await;
    assert_eq!(report["zones"][0]["sold"], 1);
    assert_eq!(report["consistent"], true);
    app.stop().await;
}

/// With `Prefer: wait`, the checkout's own answer carries the settled booking: no
/// polling for a provider that answers within the wait.
async fn a_checkout_may_wait_for_its_outcome(backend: Backend) {
    let knobs = SimulatorKnobs {
        processing_ms: 300,
        ..SimulatorKnobs::default()
    };
    let (app, sim) = TestApp::spawn_with_gateway(backend, knobs, |_| {}).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;

    let paid = app.hold(&buyer.token, &show, 2).await;
    let answer = checkout_waiting(&app, &buyer.token, &paid, "pm_card_ok").await;
    let settled = answer.expect(200);
    assert_eq!(settled["booking"]["status"], "confirmed");
    assert_eq!(settled["payment"]["status"], "succeeded");
    assert_eq!(at_gateway(&sim, &paid), (5000, 0, 1));

    let declined = app.hold(&buyer.token, &show, 1).await;
    let answer = checkout_waiting(&app, &buyer.token, &declined, "pm_card_declined").await;
    let failed = answer.expect(200);
    assert_eq!(failed["booking"]["status"], "payment_failed");
    assert_eq!(failed["payment"]["failure_code"], "card_declined");
    app.stop().await;
}

on_every_engine!(
    a_checkout_may_wait_for_its_outcome,
    a_paid_hold_is_confirmed_by_its_capture,
    a_declined_card_keeps_the_hold_for_another_try,
    free_tickets_skip_the_gateway,
    forged_webhooks_are_refused,
    refunds_follow_the_policy,
    a_gateway_that_is_down_fails_fast_and_keeps_the_hold,
    late_payments_are_confirmed_or_refunded,
);

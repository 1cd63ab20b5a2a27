//! E-tickets and the door end to end: a confirmed booking gets one ticket per
//! admission with a QR payload that an independent Ed25519 verifier (the published
//! JWKS and `ed25519-dalek`, not the signing code) accepts and rejects when altered;
//! the PDF and the email carry them; two gates scanning one ticket admit it once;
//! transfers revoke codes (refunds do too: see `payments`); offline gates merge their scans, first
//! scan wins, and learn revocations at every sync.
use crate::smtp::SmtpSink;
use crate::support::{eventually, Backend, ShowFixture, ShowSpec, TestApp, User};
use crate::{on_both_backends, on_every_engine};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use boxoffice::config::{MailTransport, SecretUrl};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// A booking confirmed and its tickets issued.
async fn bought(app: &TestApp, buyer: &User, show: &ShowFixture, n: i64) -> (String, Vec<Value>) {
    let booking = app.hold(&buyer.token, show, n).await;
    app.confirm(&buyer.token, &booking).await.expect(200);
    let tickets = eventually(WAIT, "the tickets to be issued", || async {
        let r = app
            .get(
                &format!("/api/v1/bookings/{booking}/tickets"),
                Some(&buyer.token),
            )
            .await;
        let list = r.expect(200).as_array().cloned().unwrap_or_default();
        (list.len() == n as usize).then_some(list)
    })
    .await;
    (booking, tickets)
}

/// Verifies a JWS with the published keys, the way a gate or an edge would: no code
/// of the server's. The payload when the signature holds.
async fn verify_independently(app: &TestApp, token: &str) -> Option<Value> {
    let jwks = app
        .get("/.well-known/jwks.json", None)
        .await
        .expect(200)
        .clone();
    let (signed, sig) = token.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    assert_eq!(header["alg"], "EdDSA");
    let key = jwks["keys"]
        .as_array()?
        .iter()
        .find(|k| k["kid"] == header["kid"] && k["crv"] == "Ed25519")?;
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(key["x"].as_str()?)
        .ok()?
        .try_into()
        .ok()?;
    let key = VerifyingKey::from_bytes(&x).ok()?;
    let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).ok()?).ok()?;
    key.verify_strict(signed.as_bytes(), &sig).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// `token` with its payload swapped for `claims`, the signature kept.
fn tampered(token: &str, claims: &Value) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    parts[1] = &payload;
    parts.join(".")
}

async fn scan(app: &TestApp, token: &str, body: &Value) -> Value {
    app.post("/api/v1/checkin/scan", Some(token), body)
        .await
        .expect(200)
        .clone()
}

async fn tickets_are_signed_and_verifiable_offline(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = TestApp::spawn_with(backend, move |c| {
        c.mail_transport = MailTransport::Smtp;
        c.smtp_url = Some(SecretUrl::new(url));
    })
    .await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let (booking, tickets) = bought(&app, &buyer, &show, 3).await;

    let mut codes = std::collections::HashSet::new();
    for t in &tickets {
        assert_eq!(t["status"], "valid");
        assert_eq!(t["show_id"], show.show_id.as_str());
        assert_eq!(t["zone_id"], show.zone_id.as_str());
        assert_eq!(t["code"].as_str().unwrap().len(), 24);
        assert!(
            codes.insert(t["code"].as_str().unwrap().to_owned()),
            "codes differ"
        );
        let qr = t["qr"].as_str().unwrap();
        let claims = verify_independently(&app, qr)
            .await
            .expect("the QR payload verifies with the published key");
        assert_eq!(claims["tid"], t["id"]);
        assert_eq!(claims["show"], show.show_id.as_str());
        assert_eq!(claims["holder"], t["holder_name"]);
        // Altered (another holder), the same signature no longer verifies.
        let mut forged = claims.clone();
        forged["holder"] = json!("Mallory");
        assert!(verify_independently(&app, &tampered(qr, &forged))
            .await
            .is_none());
    }
    // The buyer's list; another buyer sees none of them.
    let mine = app.get("/api/v1/tickets", Some(&buyer.token)).await;
    assert_eq!(mine.expect(200)["total"], 3);
    let other = app.buyer().await;
    let id = tickets[0]["id"].as_str().unwrap();
    app.get(&format!("/api/v1/tickets/{id}"), Some(&other.token))
        .await
        .expect(403);
    app.get(
        &format!("/api/v1/bookings/{booking}/tickets"),
        Some(&other.token),
    )
    .await
    .expect(403);

    let pdf = app
        .client
        .get(app.url(&format!("/api/v1/bookings/{booking}/tickets.pdf")))
        .bearer_auth(&buyer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let bytes = pdf.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert_eq!(
        String::from_utf8_lossy(&bytes).matches("/MediaBox").count(),
        3
    );
    let svg = app
        .client
        .get(app.url(&format!("/api/v1/tickets/{id}/qr.svg")))
        .bearer_auth(&buyer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));

    // The tickets come by email too, the PDF attached.
    let mut tickets_mail = None;
    for _ in 0..3 {
        let (received, mail) = sink.next(WAIT).await;
        if mail.subject.contains("Your tickets") {
            tickets_mail = Some((received, mail));
            break;
        }
    }
    let (received, mail) = tickets_mail.expect("a tickets email");
    assert_eq!(received.rcpt_to, vec![buyer.email.clone()]);
    for t in &tickets {
        let code = t["code"].as_str().unwrap();
        assert!(mail.text.contains(&code[..4]), "codes in {}", mail.text);
    }
    let parsed = mail_parser::MessageParser::default()
        .parse(&received.data)
        .unwrap();
    let pdf = parsed.attachments().next().expect("an attachment");
    assert!(pdf.contents().starts_with(b"%PDF-"));
    app.stop().await;
}

async fn a_ticket_is_admitted_once_at_the_door(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let (_, tickets) = bought(&app, &buyer, &show, 2).await;
    let door = &show.organizer.token;
    let qr = tickets[0]["qr"].as_str().unwrap().to_owned();

    // Buyers do not scan.
    app.post(
        "/api/v1/checkin/scan",
        Some(&buyer.token),
        &json!({"show_id": show.show_id, "gate": "north", "qr": qr}),
    )
    .await
    .expect(403);

    // Ten gates scan the same ticket at the same moment: one admits.
    let mut gates = tokio::task::JoinSet::new();
    for g in 0..10 {
        let (client, url, token) = (
            app.client.clone(),
            app.url("/api/v1/checkin/scan"),
            door.clone(),
        );
        let body = json!({"show_id": show.show_id, "gate": format!("gate-{g}"), "qr": qr});
        gates.spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        });
    }
    let answers = gates.join_all().await;
    let valid: Vec<_> = answers.iter().filter(|a| a["result"] == "valid").collect();
    assert_eq!(valid.len(), 1, "{answers:?}");
    assert_eq!(valid[0]["admit"], true);
    for a in answers.iter().filter(|a| a["result"] != "valid") {
        assert_eq!(a["result"], "already_used");
        assert_eq!(a["admit"], false);
        assert!(a["first_scan"]["gate"]
            .as_str()
            .unwrap()
            .starts_with("gate-"));
    }

    // The typed code works, dashes and case ignored.
    let code = tickets[1]["code"].as_str().unwrap().to_lowercase();
    let typed = format!("{}-{}", &code[..12], &code[12..]);
    let by_code = scan(
        &app,
        door,
        &json!({"show_id": show.show_id, "gate": "south", "code": typed}),
    )
    .await;
    assert_eq!(by_code["result"], "valid");

    // Another show's gate, a forged payload, a code nobody issued.
    let other = app.show_with(ShowSpec::default()).await;
    let other_org = app.org_of(&other.organizer).await;
    app.join(&other.organizer, &other_org, &show.organizer, "box_office")
        .await;
    let elsewhere = scan(
        &app,
        door,
        &json!({"show_id": other.show_id, "gate": "x", "qr": qr}),
    )
    .await;
    assert_eq!(elsewhere["result"], "wrong_show");
    let claims = verify_independently(&app, &qr).await.unwrap();
    let mut forged = claims.clone();
    forged["tid"] = tickets[1]["id"].clone();
    let forged = scan(
        &app,
        door,
        &json!({"show_id": show.show_id, "gate": "x", "qr": tampered(&qr, &forged)}),
    )
    .await;
    assert_eq!(forged["result"], "unknown");
    assert!(forged["ticket"].is_null());
    let nobody = scan(
        &app,
        door,
        &json!({"show_id": show.show_id, "gate": "x", "code": "AAAAAAAAAAAAAAAAAAAAAAAA"}),
    )
    .await;
    assert_eq!(nobody["result"], "unknown");

    // Bad input names the field and records nothing.
    let both = app
        .post(
            "/api/v1/checkin/scan",
            Some(door),
            &json!({"show_id": show.show_id, "gate": "x", "qr": qr, "code": "A"}),
        )
        .await;
    both.expect_field_error("qr");
    let attendance = app
        .get(
            &format!("/api/v1/shows/{}/attendance", show.show_id),
            Some(door),
        )
        .await;
    let attendance = attendance.expect(200);
    assert_eq!(attendance["checked_in"], 2);
    assert_eq!(attendance["valid"], 2);
    assert_eq!(attendance["zones"][0]["checked_in"], 2);
    app.stop().await;
}

async fn transfers_revoke_codes_unless_the_organizer_forbids_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let friend = app.buyer().await;
    let (_, tickets) = bought(&app, &buyer, &show, 2).await;
    let door = &show.organizer.token;
    let old = tickets[0].clone();
    let id = old["id"].as_str().unwrap();

    let to_nobody = app
        .post(
            &format!("/api/v1/tickets/{id}/transfer"),
            Some(&buyer.token),
            &json!({"to_email": "nobody@example.com"}),
        )
        .await;
    to_nobody.expect_field_error("to_email");
    app.post(
        &format!("/api/v1/tickets/{id}/transfer"),
        Some(&friend.token),
        &json!({"to_email": friend.email}),
    )
    .await
    .expect(403);

    let moved = app
        .post(
            &format!("/api/v1/tickets/{id}/transfer"),
            Some(&buyer.token),
            &json!({"to_email": friend.email}),
        )
        .await;
    let new = moved.expect(200).clone();
    assert_ne!(new["code"], old["code"]);
    assert_eq!(new["status"], "valid");
    let was = app
        .get(&format!("/api/v1/tickets/{id}"), Some(&buyer.token))
        .await;
    assert_eq!(was.expect(200)["status"], "revoked");
    assert_eq!(was.body["revoke_reason"], "transferred");
    assert!(was.body["qr"].is_null());
    let old_scan = scan(
        &app,
        door,
        &json!({"show_id": show.show_id, "gate": "g", "qr": old["qr"]}),
    )
    .await;
    assert_eq!(old_scan["result"], "revoked");
    assert_eq!(old_scan["revoke_reason"], "transferred");
    let friends = app.get("/api/v1/tickets", Some(&friend.token)).await;
    assert_eq!(friends.expect(200)["total"], 1);
    // Moving a revoked ticket again is refused.
    app.post(
        &format!("/api/v1/tickets/{id}/transfer"),
        Some(&buyer.token),
        &json!({"to_email": friend.email}),
    )
    .await
    .expect_problem(409, "/problems/invalid-state");

    // A used ticket cannot be given away.
    let used = tickets[1]["id"].as_str().unwrap();
    scan(
        &app,
        door,
        &json!({"show_id": show.show_id, "gate": "g", "qr": tickets[1]["qr"]}),
    )
    .await;
    app.post(
        &format!("/api/v1/tickets/{used}/transfer"),
        Some(&buyer.token),
        &json!({"to_email": friend.email}),
    )
    .await
    .expect_problem(409, "/problems/invalid-state");

    // The organizer forbids transfers.
    let policy = format!("/api/v1/shows/{}/ticket-policy", show.show_id);
    app.put(
        &policy,
        Some(&buyer.token),
        &json!({"transfers_allowed": false}),
    )
    .await
    .expect(403);
    app.put(&policy, Some(door), &json!({"transfers_allowed": false}))
        .await
        .expect(200);
    assert_eq!(
        app.get(&policy, None).await.expect(200)["transfers_allowed"],
        false
    );
    let new_id = new["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/tickets/{new_id}/transfer"),
        Some(&friend.token),
        &json!({"to_email": buyer.email}),
    )
    .await
    .expect_problem(409, "/problems/invalid-state");
    app.stop().await;
}

async fn offline_gates_merge_their_scans(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let (_, tickets) = bought(&app, &buyer, &show, 3).await;
    let door = &show.organizer.token;
    let lists = format!("/api/v1/shows/{}/checkin-lists", show.show_id);

    // A list naming another show's zone is refused with the field.
    let other = app.show_with(ShowSpec::default()).await;
    let wrong = app
        .post(
            &lists,
            Some(door),
            &json!({"name": "Wrong", "zone_ids": [other.zone_id]}),
        )
        .await;
    wrong.expect_field_error("zone_ids[0]");
    let list = app
        .post(
            &lists,
            Some(door),
            &json!({"name": "Main entrance", "zone_ids": [show.zone_id]}),
        )
        .await;
    let list_id = list.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&lists, Some(door))
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The offline list verifies with the published key and hides the codes.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/checkin-lists/{list_id}/offline")))
        .bearer_auth(door)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/jose");
    let token = res.text().await.unwrap();
    let offline = verify_independently(&app, &token)
        .await
        .expect("the offline list verifies");
    assert_eq!(offline["tickets"].as_array().unwrap().len(), 3);
    assert!(!token.contains(tickets[0]["code"].as_str().unwrap()));
    let raw = serde_json::to_string(&offline).unwrap();
    assert!(
        !raw.contains(tickets[0]["code"].as_str().unwrap()),
        "codes are hashed"
    );

    // Online, ticket 0 is admitted at 20:00:10. Two offline gates upload later.
    let sync = format!("/api/v1/checkin-lists/{list_id}/sync");
    scan(&app, door, &json!({"show_id": show.show_id, "gate": "online", "list_id": list_id, "qr": tickets[0]["qr"]})).await;
    let north = app
        .post(
            &sync,
            Some(door),
            &json!({"gate": "north", "scans": [
                {"qr": tickets[1]["qr"], "scanned_at": "2027-01-01T20:00:30Z"},
                {"qr": tickets[2]["qr"], "scanned_at": "2027-01-01T20:00:05Z"},
            ]}),
        )
        .await;
    let north = north.expect(200).clone();
    assert_eq!(north["results"][0]["result"], "valid");
    assert_eq!(north["results"][1]["result"], "valid");
    // South scanned ticket 1 earlier than north did: south's scan is the admission.
    let south = app
        .post(
            &sync,
            Some(door),
            &json!({"gate": "south", "scans": [
                {"qr": tickets[1]["qr"], "scanned_at": "2027-01-01T20:00:20Z"},
                {"code": tickets[2]["code"], "scanned_at": "2027-01-01T20:00:40Z"},
            ]}),
        )
        .await;
    let south = south.expect(200).clone();
    assert_eq!(south["results"][0]["result"], "valid");
    assert_eq!(south["results"][1]["result"], "already_used");
    assert_eq!(south["results"][1]["first_scan"]["gate"], "north");
    let admitted: Vec<(String, String)> = south["admitted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["ticket_id"].as_str().unwrap().to_owned(),
                a["gate"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(admitted.len(), 3);
    let gate_of = |t: &Value| {
        admitted
            .iter()
            .find(|(id, _)| id == t["id"].as_str().unwrap())
            .map(|(_, g)| g.clone())
    };
    assert_eq!(
        gate_of(&tickets[1]).as_deref(),
        Some("south"),
        "the earliest scan wins"
    );
    assert_eq!(gate_of(&tickets[2]).as_deref(), Some("north"));

    // A ticket transferred after the download: the next sync tells the gate.
    let buyer2 = app.buyer().await;
    let (_, more) = bought(&app, &buyer, &show, 1).await;
    let moved = more[0]["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/tickets/{moved}/transfer"),
        Some(&buyer.token),
        &json!({"to_email": buyer2.email}),
    )
    .await
    .expect(200);
    let bad = app
        .post(
            &sync,
            Some(door),
            &json!({"gate": "east", "scans": [
                {"qr": more[0]["qr"], "scanned_at": "2099-01-01T20:00:00Z"},
                {"scanned_at": "not a time", "qr": more[0]["qr"]},
            ]}),
        )
        .await;
    bad.expect_field_error("scans[1].scanned_at");
    let east = app
        .post(
            &sync,
            Some(door),
            &json!({"gate": "east", "scans": [{"qr": more[0]["qr"], "scanned_at": "2099-01-01T20:00:00Z"}]}),
        )
        .await;
    let east = east.expect(200).clone();
    assert_eq!(east["results"][0]["result"], "revoked");
    assert!(east["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == moved));
    app.stop().await;
}

/// An order of seats and standing places: a ticket per seat, with its label in the
/// signed payload, and one per standing admission.
async fn a_seated_order_gets_a_ticket_per_seat(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = crate::seating::seated_show(&app, 10, 600).await;
    let buyer = app.buyer().await;
    let r = app
        .post(
            "/api/v1/bookings/reserve",
            Some(&buyer.token),
            &json!({"show_id": show.show_id, "items": [
                {"seats": [show.seat("Stalls A-3"), show.seat("Stalls A-4")]},
                {"zone_id": show.standing, "quantity": 2},
            ]}),
        )
        .await;
    let booking = r.expect(201)["id"].as_str().unwrap().to_owned();
    app.confirm(&buyer.token, &booking).await.expect(200);
    let tickets = eventually(WAIT, "the tickets to be issued", || async {
        let r = app
            .get(
                &format!("/api/v1/bookings/{booking}/tickets"),
                Some(&buyer.token),
            )
            .await;
        let list = r.expect(200).as_array().cloned().unwrap_or_default();
        (list.len() == 4).then_some(list)
    })
    .await;
    let mut seats: Vec<String> = tickets
        .iter()
        .filter_map(|t| t["seat_label"].as_str().map(str::to_owned))
        .collect();
    seats.sort();
    assert_eq!(seats.len(), 2, "{tickets:?}");
    assert!(
        seats[0].contains("A") && seats[0].contains('3'),
        "{seats:?}"
    );
    let standing = tickets
        .iter()
        .filter(|t| t["zone_id"] == show.standing.as_str())
        .count();
    assert_eq!(standing, 2);
    for t in tickets.iter().filter(|t| !t["seat_label"].is_null()) {
        let claims = verify_independently(&app, t["qr"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(claims["seat"], t["seat_label"], "the seat is signed");
        assert_eq!(claims["zone"], show.stalls.as_str());
    }
    app.stop().await;
}

on_every_engine!(
    a_seated_order_gets_a_ticket_per_seat,
    tickets_are_signed_and_verifiable_offline,
    a_ticket_is_admitted_once_at_the_door,
    transfers_revoke_codes_unless_the_organizer_forbids_them,
    offline_gates_merge_their_scans,
);

/// Scans per second at the door, for `docs/benchmarks.md`: `BOXOFFICE_SCAN_BENCH_N`
/// tickets (default 2,000), each scanned twice (the first admits, the second is told
/// `already_used`) by 32 gates at once.
/// `cargo nextest run -p boxoffice --run-ignored only -E 'test(scan_throughput)' --no-capture`
async fn scan_throughput(backend: Backend) {
    let n: usize = std::env::var("BOXOFFICE_SCAN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let app = TestApp::spawn(backend).await;
    let show = app
        .show_with(ShowSpec {
            capacity: n as i64,
            per_user_limit: Some(100),
            ..ShowSpec::default()
        })
        .await;
    let mut qrs = Vec::with_capacity(n);
    while qrs.len() < n {
        let buyer = app.buyer().await;
        let take = (n - qrs.len()).min(100) as i64;
        let (_, tickets) = bought(&app, &buyer, &show, take).await;
        qrs.extend(tickets.iter().map(|t| t["qr"].as_str().unwrap().to_owned()));
    }
    let scans: Vec<String> = qrs.iter().chain(qrs.iter()).cloned().collect();
    let queue = std::sync::Arc::new(parking_lot::Mutex::new(scans));
    let started = std::time::Instant::now();
    let mut gates = tokio::task::JoinSet::new();
    for g in 0..32 {
        let (client, url) = (app.client.clone(), app.url("/api/v1/checkin/scan"));
        let (token, show_id, queue) = (
            show.organizer.token.clone(),
            show.show_id.clone(),
            queue.clone(),
        );
        gates.spawn(async move {
            let mut admitted = 0;
            loop {
                let Some(qr) = queue.lock().pop() else { break };
                let body = json!({"show_id": show_id, "gate": format!("gate-{g}"), "qr": qr});
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let v: Value = res.json().await.unwrap();
                admitted += usize::from(v["result"] == "valid");
            }
            admitted
        });
    }
    let admitted: usize = gates.join_all().await.into_iter().sum();
    let took = started.elapsed();
    assert_eq!(admitted, n, "every ticket admitted exactly once");
    println!(
        "figure {backend:?} scans: {} in {:.2} s = {:.0} scans/s",
        2 * n,
        took.as_secs_f64(),
        (2 * n) as f64 / took.as_secs_f64()
    );
    app.stop().await;
}

mod figures {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run it explicitly"]
    async fn scan_throughput_sqlite() {
        scan_throughput(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run it explicitly"]
    async fn scan_throughput_postgres() {
        scan_throughput(Backend::Postgres).await;
    }
}

/// A TCP relay in front of the server that the test can cut, as a gate's network
/// would be: while cut, new connections are dropped and open ones are closed.
struct Cable {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<parking_lot::Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Cable {
    async fn to(target: String) -> Cable {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (up2, links2) = (up.clone(), links.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the peer sees the connection close
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().push(link.abort_handle());
            }
        });
        Cable {
            port,
            up,
            links,
            task,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().drain(..) {
            link.abort();
        }
    }

    fn mend(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Cable {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The gate scanner loses the network mid-scan and carries on from its signed list,
/// then syncs: its offline admissions count, a code revoked meanwhile is refused from
/// then on, and other gates' admissions are known to it.
async fn a_gate_falls_back_offline_by_itself(backend: Backend) {
    use boxoffice::tickets::gate::Gate;
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let friend = app.buyer().await;
    let (_, t) = bought(&app, &buyer, &show, 4).await;
    let door = &show.organizer.token;
    let list = app
        .post(
            &format!("/api/v1/shows/{}/checkin-lists", show.show_id),
            Some(door),
            &json!({"name": "North", "zone_ids": []}),
        )
        .await;
    let list_id = list.expect(201)["id"].as_str().unwrap().to_owned();
    let server = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let cable = Cable::to(server).await;
    let mut gate = Gate::new(
        &format!("http://127.0.0.1:{}", cable.port),
        door,
        &list_id,
        "north",
        Duration::from_secs(2),
    );
    gate.prepare().await.unwrap();
    let qr = |n: usize| t[n]["qr"].as_str().unwrap().to_owned();

    let first = gate.scan(&qr(0)).await.unwrap();
    assert_eq!(
        (first.result.as_str(), first.admit, first.offline),
        ("valid", true, false)
    );

    // The network goes. Meanwhile ticket 3 is given away (its code revoked) and
    // another gate admits ticket 2, both unknown to this gate until it syncs.
    cable.cut();
    app.post(
        &format!("/api/v1/tickets/{}/transfer", t[3]["id"].as_str().unwrap()),
        Some(&buyer.token),
        &json!({"to_email": friend.email}),
    )
    .await
    .expect(200);
    scan(
        &app,
        door,
        &json!({"show_id": show.show_id, "gate": "south", "qr": qr(2)}),
    )
    .await;

    let offline = gate.scan(&qr(1)).await.unwrap();
    assert_eq!(
        (offline.result.as_str(), offline.admit, offline.offline),
        ("valid", true, true)
    );
    assert_eq!(gate.scan(&qr(1)).await.unwrap().result, "already_used");
    assert_eq!(gate.scan(&qr(0)).await.unwrap().result, "already_used");
    let typed = t[3]["code"].as_str().unwrap().to_owned();
    let stale = gate.scan(&typed).await.unwrap();
    assert_eq!(
        (stale.result.as_str(), stale.offline),
        ("valid", true),
        "not known yet"
    );
    let claims = verify_independently(&app, &qr(0)).await.unwrap();
    let mut forged = claims.clone();
    forged["tid"] = t[2]["id"].clone();
    assert_eq!(
        gate.scan(&tampered(&qr(0), &forged)).await.unwrap().result,
        "unknown"
    );
    assert!(gate.sync().await.is_err(), "no network, nothing uploaded");
    assert_eq!(
        gate.pending(),
        4,
        "admissions and repeats are kept for the record"
    );

    // Back online: the upload is merged, the gate learns the rest.
    cable.mend();
    let results = gate.sync().await.unwrap();
    assert_eq!(
        results,
        ["valid", "already_used", "already_used", "revoked"]
    );
    assert_eq!(gate.pending(), 0);
    cable.cut();
    assert_eq!(gate.scan(&typed).await.unwrap().result, "revoked");
    assert_eq!(gate.scan(&qr(2)).await.unwrap().result, "already_used");
    let attendance = app
        .get(
            &format!("/api/v1/shows/{}/attendance", show.show_id),
            Some(door),
        )
        .await;
    assert_eq!(attendance.expect(200)["checked_in"], 3);
    app.stop().await;
}

on_both_backends!(a_gate_falls_back_offline_by_itself);

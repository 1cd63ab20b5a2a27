//! The waiting room through its API: FIFO after opening, the draw before it and its
//! recomputation from the published seed, the lottery, the pass in front of reserve
//! (checked here by an independent JOSE library with the published keys), one place
//! per account, the admission pace, and a restart that keeps every place and pass.
use crate::on_every_engine;
use crate::support::{eventually, rfc3339, Backend, Resp, ShowFixture, ShowSpec, TestApp, User};
use boxoffice::clock::Clock;
use boxoffice_domain::queue::{lottery_draw, seed_commitment, seeded_shuffle};
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn queue_path(show: &ShowFixture, rest: &str) -> String {
    format!("/api/v1/shows/{}/queue{rest}", show.show_id)
}

/// The app with status answers unpaced, so tests may look as often as they like
/// (the pace itself is tested in `bad_input_is_refused_and_moves_nobody`).
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| c.queue.poll_interval_secs = 0).await
}

async fn configure(app: &TestApp, show: &ShowFixture, body: Value) -> Value {
    let r = app
        .put(&queue_path(show, ""), Some(&show.organizer.token), &body)
        .await;
    r.expect(200).clone()
}

async fn steer(app: &TestApp, show: &ShowFixture, action: &str) -> Resp {
    app.post(
        &queue_path(show, "/state"),
        Some(&show.organizer.token),
        &json!({"action": action}),
    )
    .await
}

async fn join(app: &TestApp, show: &ShowFixture, who: &User) -> Resp {
    app.post(&queue_path(show, "/join"), Some(&who.token), &json!({}))
        .await
}

/// The place of `who` (after the pace's wait, when the server asks for one).
async fn place(app: &TestApp, show: &ShowFixture, who: &User) -> Value {
    let r = app
        .get(&queue_path(show, "/status"), Some(&who.token))
        .await;
    if r.status == 429 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.body.clone()
}

async fn admitted_pass(app: &TestApp, show: &ShowFixture, who: &User) -> String {
    eventually(WAIT, "a pass", || async {
        let r = app
            .get(&queue_path(show, "/status"), Some(&who.token))
            .await;
        r.body["pass"].as_str().map(str::to_owned)
    })
    .await
}

async fn reserve_with(app: &TestApp, show: &ShowFixture, who: &User, pass: Option<&str>) -> Resp {
    let mut req = app
        .client
        .post(app.url("/api/v1/bookings/reserve"))
        .bearer_auth(&who.token)
        .json(&json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 1}));
    if let Some(p) = pass {
        req = req.header("X-Queue-Pass", p);
    }
    crate::support::read(req.send().await.expect("answered")).await
}

fn seed_of(hex_seed: &str) -> [u8; 32] {
    hex::decode(hex_seed).unwrap().try_into().unwrap()
}

async fn fifo_after_opening_and_one_place_per_account(backend: Backend) {
    let app = spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let now = app.clock.now();
    configure(&app, &show, json!({"method": "fifo", "opens_at": rfc3339(now), "admission": "fixed", "rate_per_sec": 1})).await;
    steer(&app, &show, "pause").await.expect(200);
    let mut buyers = Vec::new();
    for n in 0..4 {
        let b = app.buyer().await;
        let r = join(&app, &show, &b).await;
        let body = r.expect(201);
        assert_eq!(
            (body["position"].as_u64(), body["pre_queue"].as_bool()),
            (Some(n + 1), Some(false))
        );
        buyers.push((b, body["place_id"].clone()));
    }
    // Joining again answers the same place, and nobody moves.
    let again = join(&app, &show, &buyers[1].0).await;
    assert_eq!(again.expect(200)["place_id"], buyers[1].1);
    assert_eq!(again.body["position"], 2);
    assert_eq!(
        app.get(&queue_path(&show, ""), None).await.expect(200)["waiting"],
        4
    );
    steer(&app, &show, "resume").await.expect(200);
    admitted_pass(&app, &show, &buyers[0].0).await;
    let second = place(&app, &show, &buyers[1].0).await;
    assert_eq!(
        second["status"], "waiting",
        "one a second: the second still waits"
    );
    assert_eq!(second["position"], 1);
    assert!(second["estimated_wait_secs"].as_u64().is_some());
    assert_eq!(place(&app, &show, &buyers[3].0).await["position"], 3);
}

async fn the_pre_queue_is_drawn_reproducibly_and_later_arrivals_queue_behind(backend: Backend) {
    let mut app = spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let opens = app.clock.now().plus_secs(60);
    let q = configure(&app, &show, json!({"method": "random_at_opening", "opens_at": rfc3339(opens), "admission": "fixed", "rate_per_sec": 1, "pre_queue_secs": 900})).await;
    let commitment = q["seed_commitment"].as_str().unwrap().to_owned();
    assert!(q["seed"].is_null(), "the seed stays secret until the draw");
    let mut buyers = Vec::new();
    for _ in 0..12 {
        let b = app.buyer().await;
        let r = join(&app, &show, &b).await;
        assert_eq!(r.expect(201)["pre_queue"], true);
        buyers.push((b, r.body["place_id"].as_str().unwrap().to_owned()));
    }
    app.clock.advance_secs(61);
    let late = app.buyer().await;
    let draw = eventually(WAIT, "the draw", || async {
        let r = app.get(&queue_path(&show, "/draw"), None).await;
        (r.status == 200).then(|| r.body.clone())
    })
    .await;
    let joined_late = join(&app, &show, &late).await;
    assert_eq!(joined_late.expect(201)["pre_queue"], false);
    // Anyone recomputes the order from the seed and the entrants.
    let seed = seed_of(draw["seed"].as_str().unwrap());
    assert_eq!(
        seed_commitment(&seed),
        commitment,
        "the seed is the one committed to"
    );
    let entrants: Vec<String> = serde_json::from_value(draw["entrants"].clone()).unwrap();
    let ids: Vec<String> = buyers.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(entrants, ids, "entrants in join order");
    let mut order = entrants.clone();
    seeded_shuffle(&mut order, &seed);
    assert_eq!(serde_json::to_value(&order).unwrap(), draw["order"]);
    assert_ne!(order, entrants);
    // Places follow the drawn order; the late arrival is behind all of them.
    let mut last = None;
    for id in &order {
        let (b, _) = buyers.iter().find(|(_, p)| p == id).unwrap();
        let ahead = place(&app, &show, b).await["ahead"].as_u64();
        if let (Some(a), Some(prev)) = (ahead, last) {
            assert!(a > prev, "the drawn order decides");
        }
        if ahead.is_some() {
            last = ahead;
        }
    }
    let late_place = place(&app, &show, &late).await;
    assert!(late_place["ahead"].as_u64().unwrap() >= last.unwrap_or(0));
    // A restart recomputes the same draw and keeps every place.
    app.restart().await;
    let after = app.get(&queue_path(&show, "/draw"), None).await;
    assert_eq!(after.expect(200)["order"], draw["order"]);
    assert_eq!(
        place(&app, &show, &late).await["place_id"],
        late_place["place_id"]
    );
}

async fn a_lottery_draws_its_winners_and_tells_the_others(backend: Backend) {
    let app = spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let opens = app.clock.now().plus_secs(30);
    configure(&app, &show, json!({"method": "lottery", "opens_at": rfc3339(opens), "admission": "fixed", "rate_per_sec": 100, "lottery_winners": 3})).await;
    let mut buyers = Vec::new();
    for _ in 0..8 {
        let b = app.buyer().await;
        let r = join(&app, &show, &b).await;
        buyers.push((b, r.expect(201)["place_id"].as_str().unwrap().to_owned()));
    }
    app.clock.advance_secs(31);
    let draw = eventually(WAIT, "the draw", || async {
        let r = app.get(&queue_path(&show, "/draw"), None).await;
        (r.status == 200).then(|| r.body.clone())
    })
    .await;
    assert_eq!(draw["winners"], 3);
    let entrants: Vec<String> = serde_json::from_value(draw["entrants"].clone()).unwrap();
    let (won, lost) = lottery_draw(&entrants, 3, &seed_of(draw["seed"].as_str().unwrap()));
    assert_eq!(
        serde_json::to_value([won.clone(), lost.clone()].concat()).unwrap(),
        draw["order"]
    );
    for (b, id) in &buyers {
        if won.contains(id) {
            admitted_pass(&app, &show, b).await;
        } else {
            assert_eq!(place(&app, &show, b).await["status"], "lost");
        }
    }
    let late = app.buyer().await;
    join(&app, &show, &late)
        .await
        .expect_problem(409, "/problems/queue-closed");
    let stats = app
        .get(&queue_path(&show, "/stats"), Some(&show.organizer.token))
        .await;
    assert_eq!(
        (
            stats.expect(200)["lost"].as_u64(),
            stats.body["admitted"].as_u64()
        ),
        (Some(5), Some(3))
    );
}

async fn reserve_needs_a_valid_pass_of_its_own(backend: Backend) {
    let app = spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let other = app.show_with(ShowSpec::default()).await;
    let now = app.clock.now();
    for s in [&show, &other] {
        configure(&app, s, json!({"method": "fifo", "opens_at": rfc3339(now), "admission": "fixed", "rate_per_sec": 100, "pass_ttl_secs": 60})).await;
    }
    let (ana, bob) = (app.buyer().await, app.buyer().await);
    join(&app, &show, &ana).await.expect(201);
    join(&app, &show, &bob).await.expect(201);
    join(&app, &other, &ana).await.expect(201);
    let pass = admitted_pass(&app, &show, &ana).await;
    let bobs = admitted_pass(&app, &show, &bob).await;
    let elsewhere = admitted_pass(&app, &other, &ana).await;

    // An edge verifies the pass with the published key and a JOSE library.
    let jwks = app.get("/.well-known/jwks.json", None).await;
    let header = jsonwebtoken::decode_header(&pass).unwrap();
    let kid = header.kid.unwrap();
    let jwk = jwks.expect(200)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (jwk["purpose"].as_str(), jwk["alg"].as_str()),
        (Some("queue-pass"), Some("EdDSA"))
    );
    let key = jsonwebtoken::DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
    let claims = jsonwebtoken::decode::<Value>(
        &pass,
        &key,
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA),
    )
    .unwrap()
    .claims;
    assert_eq!(
        (claims["sub"].as_str(), claims["show"].as_str()),
        (
            Some(ana.id.to_string().as_str()),
            Some(show.show_id.as_str())
        )
    );
    assert_eq!(
        app.get("/api/v1/keys", None).await.expect(200)["keys"],
        jwks.body["keys"]
    );

    let refused = |r: Resp, why: &str| {
        r.expect_problem(403, "/problems/queue-pass-invalid");
        assert_eq!(r.body["errors"][0]["field"], "X-Queue-Pass");
        assert!(
            r.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{}",
            r.text
        );
    };
    refused(reserve_with(&app, &show, &ana, None).await, "required");
    refused(
        reserve_with(&app, &show, &ana, Some("not.a.pass")).await,
        "malformed",
    );
    refused(
        reserve_with(&app, &show, &ana, Some(&bobs)).await,
        "another account",
    );
    refused(
        reserve_with(&app, &show, &ana, Some(&elsewhere)).await,
        "another show",
    );
    let (head, rest) = pass.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_claims = json!({"iss": "boxoffice", "sub": ana.id, "show": show.show_id, "jti": claims["jti"], "iat": claims["iat"], "exp": claims["exp"].as_i64().unwrap() + 3600});
    let forged = format!(
        "{head}.{}.{sig}",
        boxoffice::signing::b64url(forged_claims.to_string().as_bytes())
    );
    refused(
        reserve_with(&app, &show, &ana, Some(&forged)).await,
        "not signed",
    );
    assert_eq!(
        app.sales(&show).await["zones"][0]["held"],
        0,
        "nothing was touched"
    );

    reserve_with(&app, &show, &ana, Some(&pass))
        .await
        .expect(201);
    refused(
        reserve_with(&app, &show, &ana, Some(&pass)).await,
        "already used",
    );
    // Revoked by the organizer.
    let jti = claims_of(&bobs)["jti"].clone();
    let r = app
        .post(
            &queue_path(&show, &format!("/passes/{}/revoke", jti.as_str().unwrap())),
            Some(&show.organizer.token),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    refused(
        reserve_with(&app, &show, &bob, Some(&bobs)).await,
        "revoked",
    );
    // Late: the pass has expired.
    app.clock.advance_secs(61);
    refused(
        reserve_with(&app, &other, &ana, Some(&elsewhere)).await,
        "expired",
    );
    let stats = app
        .get(&queue_path(&show, "/stats"), Some(&show.organizer.token))
        .await;
    let passes = &stats.expect(200)["passes"];
    assert_eq!(
        (
            passes["used"].as_u64(),
            passes["revoked"].as_u64(),
            passes["issued"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&boxoffice::signing::b64url_decode(payload).unwrap()).unwrap()
}

async fn admission_never_exceeds_the_configured_rate(backend: Backend) {
    let app = spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    configure(&app, &show, json!({"method": "fifo", "opens_at": rfc3339(app.clock.now()), "admission": "fixed", "rate_per_sec": 4})).await;
    steer(&app, &show, "pause").await.expect(200);
    for _ in 0..30 {
        let b = app.buyer().await;
        join(&app, &show, &b).await.expect(201);
    }
    steer(&app, &show, "resume").await.expect(200);
    let started = std::time::Instant::now();
    let mut admitted = 0;
    while started.elapsed() < Duration::from_millis(2600) {
        let stats = app
            .get(&queue_path(&show, "/stats"), Some(&show.organizer.token))
            .await;
        admitted = stats.expect(200)["admitted"].as_u64().unwrap();
        let allowed = 4.0 * started.elapsed().as_secs_f64() + 1.0;
        assert!(
            admitted as f64 <= allowed,
            "{admitted} admitted after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admitted >= 6, "the queue moves: {admitted}");
}

async fn a_restart_keeps_every_place_and_pass(backend: Backend) {
    let mut app = spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    configure(&app, &show, json!({"method": "fifo", "opens_at": rfc3339(app.clock.now()), "admission": "fixed", "rate_per_sec": 1, "pass_ttl_secs": 600})).await;
    let (first, second) = (app.buyer().await, app.buyer().await);
    join(&app, &show, &first).await.expect(201);
    join(&app, &show, &second).await.expect(201);
    let used = admitted_pass(&app, &show, &first).await;
    reserve_with(&app, &show, &first, Some(&used))
        .await
        .expect(201);
    let kept = admitted_pass(&app, &show, &second).await;
    steer(&app, &show, "pause").await.expect(200);
    let mut waiting = Vec::new();
    for _ in 0..5 {
        let b = app.buyer().await;
        let r = join(&app, &show, &b).await;
        waiting.push((b, r.expect(201).clone()));
    }
    app.restart().await;
    for (b, before) in &waiting {
        let now = place(&app, &show, b).await;
        assert_eq!(
            (&now["place_id"], &now["position"]),
            (&before["place_id"], &before["position"])
        );
    }
    assert_eq!(
        app.get(&queue_path(&show, ""), None).await.expect(200)["state"],
        "paused"
    );
    assert_eq!(
        place(&app, &show, &second).await["pass"].as_str(),
        Some(kept.as_str()),
        "the same token"
    );
    reserve_with(&app, &show, &second, Some(&kept))
        .await
        .expect(201);
    let replayed = reserve_with(&app, &show, &first, Some(&used)).await;
    replayed.expect_problem(403, "/problems/queue-pass-invalid");
    assert!(replayed.text.contains("already used"), "{}", replayed.text);
}

async fn bad_input_is_refused_and_moves_nobody(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let ana = app.buyer().await;
    join(&app, &show, &ana)
        .await
        .expect_problem(404, "/problems/not-found");
    let r = app.put(&queue_path(&show, ""), Some(&ana.token), &json!({"method": "fifo", "opens_at": rfc3339(app.clock.now()), "admission": "automatic"})).await;
    r.expect_problem(403, "/problems/forbidden");
    let r = app
        .put(
            &queue_path(&show, ""),
            Some(&show.organizer.token),
            &json!({"method": "queue", "opens_at": "soon", "admission": "fixed"}),
        )
        .await;
    r.expect(422);
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["method", "opens_at", "rate_per_sec"]);
    configure(&app, &show, json!({"method": "fifo", "opens_at": rfc3339(app.clock.now().plus_secs(600)), "admission": "automatic", "pre_queue_secs": 60})).await;
    join(&app, &show, &ana)
        .await
        .expect_problem(409, "/problems/queue-closed");
    app.get(&queue_path(&show, "/status"), Some(&ana.token))
        .await
        .expect_problem(404, "/problems/not-found");
    app.clock.advance_secs(560);
    let placed = join(&app, &show, &ana).await;
    placed.expect(201);
    // Polling faster than Retry-After is slowed, and the place does not move.
    app.get(&queue_path(&show, "/status"), Some(&ana.token))
        .await
        .expect(200);
    let early = app
        .get(&queue_path(&show, "/status"), Some(&ana.token))
        .await;
    early.expect_problem(429, "/problems/rate-limited");
    assert_eq!(early.header("retry-after"), Some("10"));
    let again = app
        .get(&queue_path(&show, "/status"), Some(&ana.token))
        .await;
    assert_eq!(
        again.header("retry-after"),
        Some("20"),
        "each early poll doubles the wait"
    );
    steer(&app, &show, "drain").await.expect(200);
    steer(&app, &show, "resume")
        .await
        .expect_problem(409, "/problems/invalid-state");
    let bob = app.buyer().await;
    join(&app, &show, &bob)
        .await
        .expect_problem(409, "/problems/queue-closed");
    app.clock.advance_secs(60);
    assert_eq!(
        place(&app, &show, &ana).await["place_id"],
        placed.body["place_id"]
    );
    let stats = app
        .get(&queue_path(&show, "/stats"), Some(&show.organizer.token))
        .await;
    assert_eq!(stats.expect(200)["early_polls"], 2);
}

async fn events_push_the_pass(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.queue.stream_interval_ms = 50;
        c.queue.poll_interval_secs = 0;
    })
    .await;
    let show = app.show_with(ShowSpec::default()).await;
    configure(&app, &show, json!({"method": "fifo", "opens_at": rfc3339(app.clock.now()), "admission": "fixed", "rate_per_sec": 2})).await;
    steer(&app, &show, "pause").await.expect(200);
    let (ana, bob) = (app.buyer().await, app.buyer().await);
    join(&app, &show, &ana).await.expect(201);
    join(&app, &show, &bob).await.expect(201);
    let mut res = app
        .client
        .get(app.url(&queue_path(&show, "/events")))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    steer(&app, &show, "resume").await.expect(200);
    let mut text = String::new();
    let read = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = res.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: admitted") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no pass pushed: {text}");
    assert!(text.contains("event: position"), "{text}");
    let last = text
        .rsplit("data: ")
        .next()
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let admitted: Value = serde_json::from_str(last).unwrap();
    assert!(admitted["pass"].as_str().unwrap().split('.').count() == 3);
}

on_every_engine!(
    fifo_after_opening_and_one_place_per_account,
    the_pre_queue_is_drawn_reproducibly_and_later_arrivals_queue_behind,
    a_lottery_draws_its_winners_and_tells_the_others,
    reserve_needs_a_valid_pass_of_its_own,
    admission_never_exceeds_the_configured_rate,
    a_restart_keeps_every_place_and_pass,
    bad_input_is_refused_and_moves_nobody,
    events_push_the_pass,
);

//! The organizer's and door staff's pages over HTTP: putting a show on sale and
//! watching it sell, steering the waiting room, deciding refunds, running the team,
//! checking tickets in at the door.
use super::{email, reserve, sign_in, sign_up, ticket_codes, Browser, Page};
use crate::on_both_backends;
use crate::support::{Backend, ShowSpec, TestApp};

async fn door_staff_check_tickets_in_and_see_each_verdict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let other = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let mine = app.hold(&buyer.token, &show, 1).await;
    app.confirm(&buyer.token, &mine).await.expect(200);
    let elsewhere = app.hold(&buyer.token, &other, 1).await;
    app.confirm(&buyer.token, &elsewhere).await.expect(200);
    let code = ticket_codes(&app, &buyer.token, &mine).await.remove(0);
    let wrong = ticket_codes(&app, &buyer.token, &elsewhere).await.remove(0);

    let mut door = Browser::new(&app);
    let csrf = sign_in(&mut door, &show.organizer.email).await;
    let gate = format!("/door/{}", show.show_id);
    assert!(door.get("/door").await.has(&format!("href=\"{gate}\"")));
    let page = door.get(&gate).await;
    assert!(page.has("0 of 1 in"), "{}", page.html);
    let scan = |c: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("gate", "north".to_owned()),
            ("code", c.to_owned()),
        ]
    };
    let mut verdicts = Vec::new();
    for c in [
        code.as_str(),
        code.as_str(),
        wrong.as_str(),
        "NOT-A-TICKET-CODE",
        "",
    ] {
        let form = scan(c);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = door.post(&gate, &pairs).await;
        let verdict = page
            .html
            .split("verdict verdict-")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("none")
            .to_owned();
        verdicts.push(verdict);
        if c == code {
            assert!(page.has("north"), "the gate is kept");
        }
    }
    assert_eq!(
        verdicts,
        ["valid", "already_used", "wrong_show", "unknown", "missing"]
    );
    assert!(door.get(&gate).await.has("1 of 1 in"));

    // A buyer is not the door staff of this show.
    let mut stranger = Browser::new(&app);
    sign_up(&mut stranger, &email()).await;
    let refused = stranger.get(&gate).await;
    assert!(matches!(refused.status, 403 | 404), "{}", refused.status);
    app.stop().await;
}

async fn an_organizer_puts_a_show_on_sale_and_watches_it_sell(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let organizer = app.organizer().await;
    let mut b = Browser::new(&app);
    let csrf = sign_in(&mut b, &organizer.email).await;
    let home = b.get("/organize").await;
    assert!(home.has("Create event"), "{}", home.html);
    let org_id = {
        let at = home.html.find("<option value=\"").expect("an organization");
        let rest = &home.html[at + 15..];
        rest[..rest.find('"').expect("quote")].to_owned()
    };
    let event_form = |title: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("organization_id", org_id.clone()),
            ("title", title.to_owned()),
            ("category", "theatre".to_owned()),
            ("city", "Porto".to_owned()),
            ("description", "A play in three acts.".to_owned()),
        ]
    };
    let refused = b.submit("/organize/events", &event_form("")).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.has("id=\"title-error\""),
        "the error is next to the title: {}",
        refused.html
    );
    assert!(
        refused.has("A play in three acts."),
        "what was typed is kept"
    );
    let created = b.submit("/organize/events", &event_form("Hamlet")).await;
    assert_eq!(created.status, 303, "{}", created.html);
    let event_page = created.location.expect("the event's page");
    let edit = |title: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("title", title.to_owned()),
            ("category", "theatre".to_owned()),
            ("city", "Lisbon".to_owned()),
            ("description", "A play in three acts.".to_owned()),
        ]
    };
    let refused = b.submit(&event_page, &edit("")).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.has("id=\"etitle-error\"") && refused.has("value=\"Lisbon\""),
        "{}",
        refused.html
    );
    let saved = b.submit(&event_page, &edit("Hamlet (revival)")).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let page = b.get(&event_page).await;
    assert!(
        page.has("<h1>Hamlet (revival)</h1>") && page.has("Lisbon"),
        "{}",
        page.html
    );

    let show_form = |price: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("venue", "Teatro Rivoli".to_owned()),
            ("starts_at", "2099-06-01T20:00".to_owned()),
            ("per_user_limit", "4".to_owned()),
            ("hold_minutes", "10".to_owned()),
            ("zone_name", "Stalls".to_owned()),
            ("zone_price", price.to_owned()),
            ("zone_currency", "eur".to_owned()),
            ("zone_capacity", "20".to_owned()),
        ]
    };
    let shows = format!("{event_page}/shows");
    let refused = b.submit(&shows, &show_form("12,50")).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.has("id=\"zone_price-note\""), "{}", refused.html);
    assert!(
        refused.has("value=\"Teatro Rivoli\""),
        "what was typed is kept"
    );
    let created = b.submit(&shows, &show_form("12.50")).await;
    assert_eq!(created.status, 303, "{}", created.html);
    let dashboard = created.location.expect("the show's dashboard");
    let show_id = dashboard.rsplit('/').next().expect("an id").to_owned();

    // A buyer holds two and buys one of them through the API; the dashboard follows.
    let board = b.get(&dashboard).await;
    assert!(
        board.has("12.50 EUR") || board.has("Stalls"),
        "{}",
        board.html
    );
    let zone_id = {
        let at = board.html.find("tr data-zone=\"").expect("a zone row");
        let rest = &board.html[at + 14..];
        rest[..rest.find('"').expect("quote")].to_owned()
    };
    let buyer = app.buyer().await;
    let fixture = crate::support::ShowFixture {
        organizer: organizer.clone(),
        event_id: event_page.rsplit('/').next().expect("id").to_owned(),
        show_id: show_id.clone(),
        zone_id: zone_id.clone(),
    };
    let first = app.hold(&buyer.token, &fixture, 2).await;
    app.hold(&buyer.token, &fixture, 1).await;
    app.confirm(&buyer.token, &first).await.expect(200);
    let board = b.get(&dashboard).await;
    let row = &board.html[board.html.find("tr data-zone=").expect("row")..];
    assert!(
        row.contains("data-figure=\"sold\">2<")
            && row.contains("data-figure=\"held\">1<")
            && row.contains("data-figure=\"available\">17<"),
        "{row}"
    );

    assert!(
        board.has("class=\"sold-line\"") && board.has("2 sold ·"),
        "the sales chart: {}",
        board.html
    );

    // The live stream starts with the current figures.
    let cookies: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut live = b
        .http
        .get(format!("{}{dashboard}/live", b.base))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .expect("a stream");
    assert!(live.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), live.chunk())
        .await
        .expect("an event in time")
        .expect("readable")
        .expect("a chunk");
    let text = String::from_utf8_lossy(&chunk);
    assert!(
        text.contains("event: sales") && text.contains("\"sold\":2"),
        "{text}"
    );
    drop(live);

    let zone = [
        ("csrf", csrf.as_str()),
        ("name", "Balcony"),
        ("price", "8"),
        ("currency", "EUR"),
        ("capacity", "30"),
    ];
    let added = b.post(&format!("{dashboard}/zones"), &zone).await;
    assert_eq!(added.status, 303, "{}", added.html);
    assert!(b.get(&dashboard).await.has("Balcony"));

    // Someone else's dashboard is not shown.
    let mut stranger = Browser::new(&app);
    sign_up(&mut stranger, &email()).await;
    assert!(matches!(stranger.get(&dashboard).await.status, 403 | 404));
    app.stop().await;
}

async fn an_organizer_steers_the_waiting_room_and_decides_refunds(backend: Backend) {
    let (app, _sim) =
        TestApp::spawn_with_gateway(backend, paysim::SimulatorKnobs::default(), |_| {}).await;
    let show = app.show_with(ShowSpec::default()).await;
    // Refunds only up to a year before the show: this one (a month away) is left to
    // the organizer.
    app.put(
        &format!("/api/v1/shows/{}/refund-policy", show.show_id),
        Some(&show.organizer.token),
        &serde_json::json!({"tiers": [{"min_hours_before": 8760, "percent": 100}]}),
    )
    .await
    .expect(200);
    let mut buyer = Browser::new(&app);
    let bcsrf = sign_up(&mut buyer, &email()).await;
    let held = reserve(&mut buyer, &bcsrf, &show, "1").await;
    let booking = held.location.expect("a booking");
    buyer
        .post(
            &format!("{booking}/pay"),
            &[("csrf", &bcsrf), ("payment_method", "pm_card_ok")],
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !buyer.get(&booking).await.has("Request a refund") {
        assert!(
            std::time::Instant::now() < deadline,
            "confirmed and refundable"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let asked = buyer
        .post(&format!("{booking}/refund"), &[("csrf", &bcsrf)])
        .await;
    assert_eq!(asked.status, 303, "{}", asked.html);
    let page = buyer.get(&booking).await;
    assert!(page.has("id=\"refunds\""), "{}", page.html);

    let mut org = Browser::new(&app);
    let csrf = sign_in(&mut org, &show.organizer.email).await;
    let dashboard = format!("/organize/shows/{}", show.show_id);
    let board = org.get(&dashboard).await;
    assert!(board.has("Set up the waiting room"), "{}", board.html);
    // Without a refund policy every request waits for the organizer.
    assert!(board.has("action=\"/organize/refunds/"), "{}", board.html);
    {
        let needle = "action=\"/organize/refunds/";
        let at = board.html.find(needle).expect("a decision form");
        let rest = &board.html[at + needle.len()..];
        let id = rest[..rest.find('"').expect("an id")].to_owned();
        let decided = org
            .post(
                &format!("/organize/refunds/{id}"),
                &[
                    ("csrf", &csrf),
                    ("show_id", &show.show_id),
                    ("decision", "approve"),
                ],
            )
            .await;
        assert_eq!(decided.status, 303, "{}", decided.html);
        assert!(org.get(&dashboard).await.has("None waiting."));
    }
    let page = buyer.get(&booking).await;
    assert!(
        !page.has("— requested"),
        "decided, by the policy or the organizer: {}",
        page.html
    );

    let set = org
        .post(
            &format!("{dashboard}/queue"),
            &[
                ("csrf", &csrf),
                ("method", "fifo"),
                ("opens_at", ""),
                ("admission", "fixed"),
                ("rate_per_sec", "5"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.html);
    let state = |page: &Page| page.text_of("data-queue-state");
    assert_eq!(state(&org.get(&dashboard).await), "open");
    let paused = org
        .post(
            &format!("{dashboard}/queue/state"),
            &[("csrf", &csrf), ("action", "pause")],
        )
        .await;
    assert_eq!(paused.status, 303, "{}", paused.html);
    assert_eq!(state(&org.get(&dashboard).await), "paused");
    let bad = org
        .post(
            &format!("{dashboard}/queue/state"),
            &[("csrf", &csrf), ("action", "explode")],
        )
        .await;
    assert!(matches!(bad.status, 409 | 422), "{}", bad.status);
    assert!(bad.has("class=\"alert\""));
    app.stop().await;
}

async fn an_owner_manages_members_keys_and_webhooks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.organizer().await;
    let invited = app.buyer().await;
    let mut b = Browser::new(&app);
    let csrf = sign_in(&mut b, &owner.email).await;
    let home = b.get("/organize").await;
    let needle = "href=\"/organize/orgs/";
    let at = home.html.find(needle).expect("an organization link");
    let rest = &home.html[at + needle.len()..];
    let org = format!("/organize/orgs/{}", &rest[..rest.find('"').expect("quote")]);
    let page = b.get(&org).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.has(&owner.email), "the owner is a member");

    let key = b
        .post(
            &format!("{org}/keys"),
            &[("csrf", &csrf), ("name", "door scanner"), ("scope", "read")],
        )
        .await;
    assert_eq!(key.status, 200, "{}", key.html);
    let token = key.text_of("class=\"secret\"");
    assert!(token.starts_with("bo_"), "{token}");
    let listed = b.get(&org).await;
    assert!(
        listed.has("door scanner") && !listed.has(&token),
        "the token is shown once"
    );
    let revoke = {
        let needle = "/keys/";
        let at = listed.html.find(needle).expect("a revoke form");
        let rest = &listed.html[at + needle.len()..];
        format!(
            "{org}/keys/{}/revoke",
            &rest[..rest.find('/').expect("an id")]
        )
    };
    assert_eq!(b.post(&revoke, &[("csrf", &csrf)]).await.status, 303);
    let after = b.get(&org).await;
    assert!(
        after.has("door scanner") && after.has("revoked ") && !after.has(&revoke),
        "{}",
        after.html
    );

    let asked = b
        .post(
            &format!("{org}/invitations"),
            &[
                ("csrf", &csrf),
                ("email", &invited.email),
                ("role", "box_office"),
            ],
        )
        .await;
    assert_eq!(asked.status, 303, "{}", asked.html);
    assert!(b
        .get(&org)
        .await
        .has(&format!("{} (box office)", invited.email)));
    // The last owner cannot step down.
    let me = format!("{org}/members/{}/role", owner.id);
    let refused = b.post(&me, &[("csrf", &csrf), ("role", "manager")]).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.has("class=\"alert\""));

    let no_types = b
        .post(
            &format!("{org}/webhooks"),
            &[
                ("csrf", &csrf),
                ("url", "https://hooks.example.com/boxoffice"),
            ],
        )
        .await;
    assert_eq!(no_types.status, 422, "{}", no_types.html);
    let hook = b
        .post(
            &format!("{org}/webhooks"),
            &[
                ("csrf", &csrf),
                ("url", "https://hooks.example.com/boxoffice"),
                ("type_booking.confirmed", "1"),
            ],
        )
        .await;
    assert_eq!(hook.status, 200, "{}", hook.html);
    assert!(hook.text_of("class=\"secret\"").starts_with("whsec_"));
    let listed = b.get(&org).await;
    assert!(
        listed.has("hooks.example.com&#x2f;boxoffice</code> · booking.confirmed"),
        "{}",
        listed.html
    );

    // Someone outside the organization sees none of it.
    let mut stranger = Browser::new(&app);
    sign_up(&mut stranger, &email()).await;
    assert!(matches!(stranger.get(&org).await.status, 403 | 404));
    app.stop().await;
}

async fn an_organizer_edits_the_show_and_its_zones_and_draws_its_seat_map(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let mut b = Browser::new(&app);
    let csrf = sign_in(&mut b, &show.organizer.email).await;
    let setup = format!("/organize/shows/{}/setup", show.show_id);
    let api_show = || async {
        app.get(&format!("/api/v1/shows/{}", show.show_id), None)
            .await
            .expect(200)
            .clone()
    };
    let page = b.get(&setup).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.has("value=\"Hall One\""), "{}", page.html);

    // The show: a wrong number is named next to its field and what was typed stays.
    let starts = page.input("starts_at");
    let mut details = vec![
        ("csrf", csrf.as_str()),
        ("venue", "Hall Two"),
        ("starts_at", starts.as_str()),
        ("sale_opens_at", ""),
        ("sale_closes_at", ""),
        ("per_user_limit", "four"),
        ("hold_minutes", "15"),
    ];
    let edit = format!("/organize/shows/{}/edit", show.show_id);
    let refused = b.post(&edit, &details).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.has("id=\"s-per_user_limit-note\">Must be a whole number."),
        "{}",
        refused.html
    );
    assert!(refused.has("value=\"Hall Two\""), "{}", refused.html);
    assert_eq!(api_show().await["venue"], "Hall One", "nothing saved");
    details[5].1 = "4";
    let saved = b.post(&edit, &details).await;
    assert_eq!(saved.status, 303, "{}", saved.html);
    let now = api_show().await;
    assert_eq!(
        (now["venue"].as_str(), now["per_user_limit"].as_u64()),
        (Some("Hall Two"), Some(4))
    );
    assert_eq!(now["hold_ttl_secs"], 900);

    // Zones: change one, refuse a bad price next to its field, add another.
    let zone = format!("/organize/shows/{}/zones/{}", show.show_id, show.zone_id);
    let bad = [
        ("csrf", csrf.as_str()),
        ("name", "Parterre"),
        ("price", "12,50"),
        ("currency", "EUR"),
        ("capacity", "60"),
    ];
    let refused = b.post(&zone, &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.has("z1-price-note\">A price such as 45 or 45.50."),
        "{}",
        refused.html
    );
    assert!(refused.has("value=\"12,50\""), "{}", refused.html);
    let good = [
        ("csrf", csrf.as_str()),
        ("name", "Parterre"),
        ("price", "12.50"),
        ("currency", "eur"),
        ("capacity", "60"),
    ];
    assert_eq!(b.post(&zone, &good).await.status, 303);
    let added = [
        ("csrf", csrf.as_str()),
        ("name", "Balcony"),
        ("price", "8"),
        ("currency", "EUR"),
        ("capacity", "30"),
    ];
    let zones_path = format!("/organize/shows/{}/zones", show.show_id);
    assert_eq!(b.post(&zones_path, &added).await.status, 303);
    let now = api_show().await;
    let zones: Vec<(String, i64, u64)> = now["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (
                z["name"].as_str().unwrap().to_owned(),
                z["price_minor"].as_i64().unwrap(),
                z["capacity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        zones,
        vec![("Parterre".into(), 1250, 60), ("Balcony".into(), 800, 30)]
    );

    // The seat map: every wrong line named, a zone the show lacks named, then seated.
    let seating = format!("/organize/shows/{}/seating", show.show_id);
    let draw = |text: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("name", "Hall Two".to_owned()),
            ("drawing", text.to_owned()),
        ]
    };
    let refused = b.submit(&seating, &draw("Stalls | A-B | 1-10 | Parterre\nStalls | C-A | 1-4 | Parterre\nBox | 1 | x | Balcony")).await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.has("Line 2: rows"), "{}", refused.html);
    assert!(refused.has("Line 3:"), "{}", refused.html);
    assert!(
        refused.has("Box | 1 | x | Balcony"),
        "what was typed stays: {}",
        refused.html
    );
    let refused = b
        .submit(&seating, &draw("Stalls | A | 1-4 | Gallery"))
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(
        refused.has("No zone of this show is called"),
        "{}",
        refused.html
    );
    assert!(
        app.get(&format!("/api/v1/shows/{}/seating", show.show_id), None)
            .await
            .status
            .as_u16()
            == 404
    );
    let text = "Stalls | A-B | 1-10, 13-22 | Parterre\nBalcony | 1 | 1-8 | Balcony | 1\n";
    let seated = b.submit(&seating, &draw(text)).await;
    assert_eq!(seated.status, 303, "{}", seated.html);
    let map = app
        .get(&format!("/api/v1/shows/{}/seating", show.show_id), None)
        .await;
    let seats = map.expect(200)["seats"].as_array().unwrap().clone();
    assert_eq!(seats.len(), 48);
    assert_eq!(seats.iter().filter(|s| s["accessible"] == true).count(), 1);
    let now = api_show().await;
    assert_eq!(
        now["zones"][0]["capacity"], 40,
        "the map gives the zone its seats"
    );
    assert_eq!(now["zones"][1]["capacity"], 8);
    let page = b.get(&setup).await;
    assert!(page.has("48 numbered seats"), "{}", page.html);
    assert!(
        page.has("Stalls | A-B | 1-10, 13-22 | Parterre\nBalcony | 1 | 1-8 | Balcony | 1"),
        "the map reads back as drawn: {}",
        page.html
    );

    // Tickets out: no redraw, no removing their zone or the show.
    let buyer = app.buyer().await;
    app.post(
        "/api/v1/bookings/reserve",
        Some(&buyer.token),
        &serde_json::json!({"show_id": show.show_id, "items": [{"zone_id": show.zone_id, "best_available": 2}]}),
    )
    .await
    .expect(201);
    let refused = b
        .submit(&seating, &draw("Stalls | A | 1-4 | Parterre"))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.html);
    assert!(refused.has("class=\"alert\""), "{}", refused.html);
    let removed = b
        .post(&format!("{zone}/delete"), &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(removed.status, 409, "{}", removed.html);
    assert_eq!(api_show().await["zones"].as_array().unwrap().len(), 2);

    // A second show of the event takes the same map by its zones' names, then goes.
    let other = app
        .post(
            &format!("/api/v1/events/{}/shows", show.event_id),
            Some(&show.organizer.token),
            &serde_json::json!({"venue": "Hall Two", "starts_at": "2030-01-01T20:00:00Z",
                "zones": [{"name": "parterre", "price_minor": 1000, "currency": "EUR", "capacity": 1},
                          {"name": "Balcony", "price_minor": 500, "currency": "EUR", "capacity": 1}]}),
        )
        .await;
    let other = other.expect(201)["id"].as_str().unwrap().to_owned();
    let page = b.get(&format!("/organize/shows/{other}/setup")).await;
    let layout = page.input("layout_id");
    let reused = b
        .post(
            &format!("/organize/shows/{other}/seating/reuse"),
            &[("csrf", csrf.as_str()), ("layout_id", layout.as_str())],
        )
        .await;
    assert_eq!(reused.status, 303, "{}", reused.html);
    let map = app
        .get(&format!("/api/v1/shows/{other}/seating"), None)
        .await;
    assert_eq!(map.expect(200)["seats"].as_array().unwrap().len(), 48);
    let gone = b
        .post(
            &format!("/organize/shows/{other}/delete"),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(gone.status, 303, "{}", gone.html);
    assert_eq!(
        gone.location.as_deref(),
        Some(format!("/organize/events/{}", show.event_id).as_str())
    );
    assert_eq!(
        app.get(&format!("/api/v1/shows/{other}"), None)
            .await
            .status
            .as_u16(),
        404
    );
    let kept = b
        .post(
            &format!("/organize/shows/{}/delete", show.show_id),
            &[("csrf", csrf.as_str())],
        )
        .await;
    assert_eq!(
        kept.status, 409,
        "a show with bookings stays: {}",
        kept.html
    );

    // Someone else sees none of it and changes nothing.
    let mut stranger = Browser::new(&app);
    let theirs = sign_up(&mut stranger, &email()).await;
    assert_eq!(stranger.get(&setup).await.status, 403);
    let tried = stranger
        .post(
            &edit,
            &[
                ("csrf", theirs.as_str()),
                ("venue", "Mine"),
                ("starts_at", starts.as_str()),
            ],
        )
        .await;
    assert_eq!(tried.status, 403, "{}", tried.html);
    assert_eq!(api_show().await["venue"], "Hall Two");
    app.stop().await;
}

on_both_backends!(
    an_organizer_edits_the_show_and_its_zones_and_draws_its_seat_map,
    door_staff_check_tickets_in_and_see_each_verdict,
    an_organizer_puts_a_show_on_sale_and_watches_it_sell,
    an_organizer_steers_the_waiting_room_and_decides_refunds,
    an_owner_manages_members_keys_and_webhooks,
);

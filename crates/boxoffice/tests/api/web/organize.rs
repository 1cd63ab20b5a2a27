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

on_both_backends!(
    door_staff_check_tickets_in_and_see_each_verdict,
    an_organizer_puts_a_show_on_sale_and_watches_it_sell,
    an_organizer_steers_the_waiting_room_and_decides_refunds,
    an_owner_manages_members_keys_and_webhooks,
);

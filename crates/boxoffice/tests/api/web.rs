//! The web UI over HTTP, as a browser without JavaScript uses it: cookies, forms with
//! their CSRF token, redirects. A buyer signs up, browses, holds tickets, pays and sees
//! the tickets; a form without its token changes nothing; errors are pages in words
//! that keep what was typed; a session signed out stays out. (The same flow in real
//! Chromium, with the script, accessibility checks and screenshots, is `e2e/`.)
use crate::on_both_backends;
use crate::support::{client, Backend, ShowSpec, TestApp};
use std::collections::HashMap;

/// A browser: a cookie jar over a client that does not follow redirects.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    content_type: String,
    csp: String,
    html: String,
}

impl Page {
    /// The value of the first `name="…" value="…"` input of the page.
    fn input(&self, name: &str) -> String {
        let at = self
            .html
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("an input {name}: {}", self.html));
        let rest = &self.html[at + name.len() + 15..];
        rest[..rest.find('"').expect("a closing quote")].to_owned()
    }

    /// The inner text of the first element carrying `attr`.
    fn text_of(&self, attr: &str) -> String {
        let at = self
            .html
            .find(attr)
            .unwrap_or_else(|| panic!("{attr} on the page: {}", self.html));
        let rest = &self.html[at..];
        let open = rest.find('>').expect("a tag") + 1;
        let close = rest[open..].find('<').expect("an end") + open;
        rest[open..close].trim().to_owned()
    }

    fn has(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self {
            http: client(),
            base: app.base.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let jar: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let res = req
            .header("cookie", jar.join("; "))
            .send()
            .await
            .expect("answered");
        for set in res.headers().get_all("set-cookie") {
            let set = set.to_str().expect("ASCII");
            let attrs = set.to_ascii_lowercase();
            assert!(attrs.contains("httponly"), "{set}");
            assert!(attrs.contains("samesite="), "{set}");
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || attrs.contains("max-age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        Page {
            status: res.status().as_u16(),
            location: header("location"),
            content_type: header("content-type").unwrap_or_default(),
            csp: header("content-security-policy").unwrap_or_default(),
            html: res.text().await.expect("a body"),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.submit(path, form).await
    }

    async fn submit<T: serde::Serialize + ?Sized>(&mut self, path: &str, form: &T) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }
}

/// Posts the event page's reserve form for `show`'s zone.
async fn reserve(
    b: &mut Browser,
    csrf: &str,
    show: &crate::support::ShowFixture,
    quantity: &str,
) -> Page {
    let form = [
        ("csrf", csrf),
        ("event_id", show.event_id.as_str()),
        ("show_id", show.show_id.as_str()),
        ("zone_id", show.zone_id.as_str()),
        ("quantity", quantity),
    ];
    b.post("/reserve", &form).await
}

/// Signs a new buyer up through the form; the CSRF token of the session.
async fn sign_up(b: &mut Browser, email: &str) -> String {
    let form = b.get("/signup").await;
    let csrf = form.input("csrf");
    let done = b
        .post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("display_name", "Ana Lima"),
                ("email", email),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(
        (done.status, done.location.as_deref()),
        (303, Some("/")),
        "{}",
        done.html
    );
    csrf
}

fn email() -> String {
    format!("ana-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn a_buyer_signs_up_holds_pays_and_sees_the_tickets(backend: Backend) {
    let (app, _sim) =
        TestApp::spawn_with_gateway(backend, paysim::SimulatorKnobs::default(), |_| {}).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 10,
            per_user_limit: Some(4),
            ..ShowSpec::default()
        })
        .await;
    let mut b = Browser::new(&app);

    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert!(
        home.content_type.starts_with("text/html"),
        "{}",
        home.content_type
    );
    assert!(home.csp.contains("frame-ancestors 'none'") && home.csp.contains("script-src 'self'"));
    assert!(!home.csp.contains("unsafe-inline"), "{}", home.csp);
    let link = format!("/events/{}", show.event_id);
    assert!(home.has(&link), "the event is listed");
    assert!(
        b.get("/?q=Night").await.has(&link),
        "and found by its title"
    );
    assert!(!b.get("/?q=zzzz-nothing").await.has(&link));

    // A password too short: the error next to the field, the email kept, no account.
    let address = email();
    let csrf = b.get("/signup").await.input("csrf");
    let refused = b
        .post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("display_name", "Ana Lima"),
                ("email", &address),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.has("class=\"field-error\" id=\"password-note\""),
        "{}",
        refused.html
    );
    assert!(
        refused.has(&format!("value=\"{address}\"")),
        "what was typed is kept"
    );
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({"email": address, "password": "short"}),
        )
        .await;
    assert_eq!(login.status, 401, "no account was created");

    let csrf = sign_up(&mut b, &address).await;
    assert!(b.get("/").await.has("Sign out"));

    let event = b.get(&link).await;
    assert_eq!(event.status, 200);
    let available = format!("data-zone-available=\"{}\"", show.zone_id);
    assert_eq!(event.text_of(&available), "10");
    let held = reserve(&mut b, &csrf, &show, "2").await;
    assert_eq!(held.status, 303, "{}", held.html);
    let booking = held.location.expect("the booking's page");
    assert!(booking.starts_with("/bookings/"));
    let page = b.get(&booking).await;
    assert!(page.has("data-status=\"held\""), "{}", page.html);
    assert!(
        page.has("class=\"countdown\" datetime=\""),
        "a countdown to the deadline"
    );
    assert_eq!(b.get(&link).await.text_of(&available), "8");

    let paid = b
        .post(
            &format!("{booking}/pay"),
            &[("csrf", &csrf), ("payment_method", "pm_card_ok")],
        )
        .await;
    assert_eq!(paid.status, 303, "{}", paid.html);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let confirmed = loop {
        let page = b.get(&booking).await;
        if page.has("data-status=\"confirmed\"") && page.has("class=\"ticket\"") {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "confirmed with tickets: {}",
            page.html
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(confirmed.html.matches("class=\"ticket\"").count(), 2);
    assert_eq!(confirmed.html.matches("<svg").count(), 2, "a QR code each");
    assert!(b.get("/bookings").await.has(&format!("href=\"{booking}\"")));
    app.stop().await;
}

async fn forms_need_their_csrf_token_and_a_refused_one_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let mut b = Browser::new(&app);
    let csrf = sign_up(&mut b, &email()).await;
    let reserve = |token: &'static str| {
        vec![
            ("csrf", token.to_owned()),
            ("event_id", show.event_id.clone()),
            ("show_id", show.show_id.clone()),
            ("zone_id", show.zone_id.clone()),
            ("quantity", "1".to_owned()),
        ]
    };
    let as_pairs = |v: &[(&'static str, String)]| -> Vec<(&'static str, String)> { v.to_vec() };
    for form in [as_pairs(&reserve("")), as_pairs(&reserve("0000"))] {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = b.post("/reserve", &pairs).await;
        assert_eq!(refused.status, 403, "{}", refused.html);
        assert!(refused.content_type.starts_with("text/html"));
        assert!(refused.has("This form has expired"));
    }
    // Another site's form: no cookie of ours, our token in the field.
    let mut other = Browser::new(&app);
    let forged = other.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(forged.status, 403);
    let sales = app
        .get(
            &format!("/api/v1/shows/{}/sales", show.show_id),
            Some(&show.organizer.token),
        )
        .await;
    assert_eq!(sales.expect(200)["zones"][0]["held"], 0, "nothing was held");
    // Signing out without the token keeps the session.
    assert_eq!(b.post("/signout", &[]).await.status, 403);
    assert!(b.get("/").await.has("Sign out"));
    app.stop().await;
}

async fn errors_are_pages_in_words_and_sign_out_stays_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 3,
            per_user_limit: Some(5),
            ..ShowSpec::default()
        })
        .await;
    let mut b = Browser::new(&app);

    // Signed out: pages that need an account send to sign-in and back.
    let away = b.get("/bookings").await;
    assert_eq!(
        (away.status, away.location.as_deref()),
        (303, Some("/signin?next=%2Fbookings"))
    );
    let csrf = b.get("/signin").await.input("csrf");
    let wrong = b
        .post(
            "/signin",
            &[
                ("csrf", &csrf),
                ("email", "nobody@example.com"),
                ("password", "wrong password"),
                ("next", "/bookings"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.has("The email or the password is wrong."));
    assert!(wrong.has("value=\"nobody@example.com\""));

    let address = email();
    let csrf = sign_up(&mut b, &address).await;
    // A sign-in sends only to this site, whatever `next` says.
    let mut again = Browser::new(&app);
    let token = again.get("/signin").await.input("csrf");
    let back = again
        .post(
            "/signin",
            &[
                ("csrf", &token),
                ("email", &address),
                ("password", "correct horse battery"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!((back.status, back.location.as_deref()), (303, Some("/")));

    let missing = b.get("/events/00000000-0000-7000-8000-000000000000").await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.content_type.starts_with("text/html"),
        "a page, not a problem document"
    );
    assert!(missing.has("There is no such event."));
    assert_eq!(b.get("/events/not-an-id").await.status, 404);

    let form = |q: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("event_id", show.event_id.clone()),
            ("show_id", show.show_id.clone()),
            ("zone_id", show.zone_id.clone()),
            ("quantity", q.to_owned()),
        ]
    };
    for (quantity, status, words) in [
        ("abc", 400, "Choose a zone and how many tickets."),
        ("4", 409, "Sold out"),
        ("0", 422, "quantity"),
    ] {
        let f = form(quantity);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = b.post("/reserve", &pairs).await;
        assert_eq!(page.status, status, "quantity {quantity}: {}", page.html);
        assert!(page.has(words), "quantity {quantity}: {}", page.html);
        assert!(page.content_type.starts_with("text/html"));
    }
    // Another buyer's booking is not shown.
    let other = app.buyer().await;
    let theirs = app.hold(&other.token, &show, 1).await;
    let hidden = b.get(&format!("/bookings/{theirs}")).await;
    assert!(matches!(hidden.status, 403 | 404), "{}", hidden.status);

    // Signing out ends the session: the old cookie no longer signs anyone in.
    let old = b.cookies.clone();
    let out = b.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_deref()), (303, Some("/")));
    assert!(!b.get("/").await.has("Sign out"));
    b.cookies = old;
    assert_eq!(
        b.get("/bookings").await.status,
        303,
        "the replayed cookie is signed out"
    );
    app.stop().await;
}

async fn a_queued_show_is_bought_through_the_waiting_room_page(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.queue.poll_interval_secs = 0).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 10,
            per_user_limit: Some(4),
            ..ShowSpec::default()
        })
        .await;
    let queue = format!("/api/v1/shows/{}/queue", show.show_id);
    let opens = crate::support::rfc3339(boxoffice::clock::Clock::now(app.clock.as_ref()));
    let organizer = Some(show.organizer.token.as_str());
    app.put(&queue, organizer, &serde_json::json!({"method": "fifo", "opens_at": opens, "admission": "fixed", "rate_per_sec": 5}))
        .await
        .expect(200);
    app.post(
        &format!("{queue}/state"),
        organizer,
        &serde_json::json!({"action": "pause"}),
    )
    .await
    .expect(200);
    let mut b = Browser::new(&app);
    let csrf = sign_up(&mut b, &email()).await;

    let event = b.get(&format!("/events/{}", show.event_id)).await;
    let room = format!("/shows/{}/queue", show.show_id);
    assert!(
        event.has(&format!("href=\"{room}\"")),
        "the event page points to the waiting room"
    );
    assert!(
        !event.has("action=\"/reserve\""),
        "and offers no way around it"
    );
    // Around it anyway: refused in words.
    let around = reserve(&mut b, &csrf, &show, "1").await;
    assert_eq!(around.status, 409, "{}", around.html);
    assert!(around.has("waiting room"), "{}", around.html);

    assert!(b.get(&room).await.has("Join the waiting room"));
    let joined = b.post(&format!("{room}/join"), &[("csrf", &csrf)]).await;
    assert_eq!(
        (joined.status, joined.location.as_deref()),
        (303, Some(room.as_str()))
    );
    let waiting = b.get(&room).await;
    assert_eq!(
        waiting.text_of("data-place=\"position\""),
        "1",
        "{}",
        waiting.html
    );
    assert!(
        waiting.has(&format!("<a href=\"{room}\">look again</a>")) && !waiting.has("http-equiv"),
        "without the script a link to look again, never a timed refresh"
    );

    app.post(
        &format!("{queue}/state"),
        organizer,
        &serde_json::json!({"action": "resume"}),
    )
    .await
    .expect(200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let turn = loop {
        let page = b.get(&room).await;
        if page.has("It is your turn") {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "admitted: {}",
            page.html
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let pass = turn.input("pass");
    let form = [
        ("csrf", csrf.as_str()),
        ("event_id", show.event_id.as_str()),
        ("show_id", show.show_id.as_str()),
        ("zone_id", show.zone_id.as_str()),
        ("quantity", "2"),
        ("pass", pass.as_str()),
    ];
    let held = b.post("/reserve", &form).await;
    assert_eq!(held.status, 303, "{}", held.html);
    assert!(b
        .get(&held.location.expect("a booking"))
        .await
        .has("data-status=\"held\""));
    // A pass takes one hold.
    let again = b.post("/reserve", &form).await;
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(
        again.has("Waiting room"),
        "back on the waiting room's page: {}",
        again.html
    );
    app.stop().await;
}

/// Signs `email` in through the form (the test users' password); the CSRF token.
async fn sign_in(b: &mut Browser, email: &str) -> String {
    let csrf = b.get("/signin").await.input("csrf");
    let done = b
        .post(
            "/signin",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", crate::support::PASSWORD),
                ("next", "/door"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    csrf
}

/// The codes of a confirmed booking's tickets, once issued.
async fn ticket_codes(app: &TestApp, token: &str, booking: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = app
            .get(&format!("/api/v1/bookings/{booking}/tickets"), Some(token))
            .await;
        let codes: Vec<String> = r.body.as_array().map_or_else(Vec::new, |list| {
            list.iter()
                .filter_map(|t| t["code"].as_str().map(str::to_owned))
                .collect()
        });
        if !codes.is_empty() {
            return codes;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tickets issued: {}",
            r.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

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

async fn an_account_turns_on_its_second_factor_and_signs_out_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut b = Browser::new(&app);
    let address = email();
    let csrf = sign_up(&mut b, &address).await;
    let account = b.get("/account").await;
    assert!(account.has("(this browser)"), "{}", account.html);
    assert!(account.has("Set up an authenticator"));

    let started = b.post("/account/mfa/start", &[("csrf", &csrf)]).await;
    assert_eq!(started.status, 200, "{}", started.html);
    assert!(started.has("<svg"), "a QR code to scan");
    let secret = started.text_of("class=\"secret\"");
    let wrong = b
        .post(
            "/account/mfa/confirm",
            &[("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.html);
    assert!(wrong.has("class=\"alert\""));
    crate::mfa::next_step(&app);
    let code = crate::mfa::code_now(&app, &secret);
    let on = b
        .post("/account/mfa/confirm", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(on.status, 200, "{}", on.html);
    assert!(on.has("backup codes"), "{}", on.html);
    assert!(
        on.html.matches("<li><code>").count() >= 8,
        "the backup codes, once"
    );

    // Signing in again takes the second factor; then the first browser signs the
    // second one out from its session list.
    let mut other = Browser::new(&app);
    let token = other.get("/signin").await.input("csrf");
    let challenged = other
        .post(
            "/signin",
            &[
                ("csrf", &token),
                ("email", &address),
                ("password", "correct horse battery"),
                ("next", "/bookings"),
            ],
        )
        .await;
    assert_eq!(challenged.status, 200, "{}", challenged.html);
    let mfa_token = challenged.input("mfa_token");
    let refused = other
        .post(
            "/signin/mfa",
            &[
                ("csrf", &token),
                ("mfa_token", &mfa_token),
                ("code", "123456"),
                ("next", "/bookings"),
            ],
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.html);
    crate::mfa::next_step(&app);
    let code = crate::mfa::code_now(&app, &secret);
    let mfa_token = refused.input("mfa_token");
    let entered = other
        .post(
            "/signin/mfa",
            &[
                ("csrf", &token),
                ("mfa_token", &mfa_token),
                ("code", &code),
                ("next", "/bookings"),
            ],
        )
        .await;
    assert_eq!(
        (entered.status, entered.location.as_deref()),
        (303, Some("/bookings")),
        "{}",
        entered.html
    );
    assert_eq!(other.get("/bookings").await.status, 200);

    let list = b.get("/account").await;
    let theirs = list
        .html
        .split("action=\"/account/sessions/")
        .skip(1)
        .map(|rest| rest[..rest.find('/').expect("an id")].to_owned())
        .find(|id| !list.html.contains(&format!("{id}/revoke\" class=\"inline\">\n          <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n          <button type=\"submit\" class=\"link\">Sign out</button>")))
        .expect("the other session");
    let out = b
        .post(
            &format!("/account/sessions/{theirs}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(out.status, 303, "{}", out.html);
    assert_eq!(
        other.get("/bookings").await.status,
        303,
        "signed out from the other browser"
    );
    assert_eq!(b.get("/bookings").await.status, 200, "this one stays in");
    app.stop().await;
}

async fn seats_are_held_best_available_or_picked_on_the_map(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = crate::seating::seated_show(&app, 6, 600).await;
    let event_id = app
        .get(&format!("/api/v1/shows/{}", show.show_id), None)
        .await
        .expect(200)["event_id"]
        .as_str()
        .expect("an event")
        .to_owned();
    let mut b = Browser::new(&app);
    let csrf = sign_up(&mut b, &email()).await;
    let page = b.get(&format!("/events/{event_id}")).await;
    let map = format!("/shows/{}/seats", show.show_id);
    assert!(page.has(&format!("href=\"{map}\"")), "{}", page.html);
    assert!(
        page.has("Best seats"),
        "seated zones offer the best available"
    );

    let best = b
        .post(
            "/reserve",
            &[
                ("csrf", &csrf),
                ("best", "1"),
                ("event_id", &event_id),
                ("show_id", &show.show_id),
                ("zone_id", &show.stalls),
                ("quantity", "2"),
            ],
        )
        .await;
    assert_eq!(best.status, 303, "{}", best.html);
    let held = b.get(&best.location.expect("a booking")).await;
    assert!(held.has("data-status=\"held\""), "{}", held.html);

    let seats = b.get(&map).await;
    assert!(
        seats.has(&format!("/api/v1/shows/{}/seats.svg", show.show_id)),
        "the live map"
    );
    let field = |label: &str| format!("seat_{}", show.seat(label));
    assert!(
        !seats.has(&field("Stalls E-10")),
        "a blocked seat is not offered"
    );
    assert!(seats.has(&field("Stalls C-5")));
    let listed = seats.html.matches("type=\"checkbox\"").count();
    assert_eq!(listed, 70 - 1 - 2, "every free seat, and only those");

    let (c5, c6) = (field("Stalls C-5"), field("Stalls C-6"));
    let picked = b
        .post(&map, &[("csrf", &csrf), (&c5, "1"), (&c6, "1")])
        .await;
    assert_eq!(picked.status, 303, "{}", picked.html);
    let order = b.get(&picked.location.expect("a booking")).await;
    assert!(order.has("data-status=\"held\""));
    assert!(!b.get(&map).await.has(&c5), "taken seats leave the list");

    let again = b.post(&map, &[("csrf", &csrf), (&c5, "1")]).await;
    assert_eq!(again.status, 409, "{}", again.html);
    assert!(again.has("class=\"alert\""));
    let none = b.post(&map, &[("csrf", &csrf)]).await;
    assert_eq!(none.status, 422);
    assert!(none.has("Choose at least one seat."));
    app.stop().await;
}

async fn admins_read_the_audit_log_and_replay_dead_letters(backend: Backend) {
    use std::sync::atomic::Ordering;
    let downstream = std::sync::Arc::new(crate::dead_letters::Downstream::default());
    downstream.failing.store(true, Ordering::SeqCst);
    let app = crate::dead_letters::app_with(backend, downstream.clone()).await;
    let admin = app.admin().await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    app.hold(&buyer.token, &show, 1).await;
    crate::support::eventually(
        std::time::Duration::from_secs(20),
        "a dead letter",
        || async {
            let r = app
                .get(
                    "/api/v1/admin/dead-letters?consumer=downstream",
                    Some(&admin.token),
                )
                .await;
            (r.expect(200)["total"] == 1).then_some(())
        },
    )
    .await;

    let mut b = Browser::new(&app);
    let csrf = sign_in(&mut b, &admin.email).await;
    let letters = b.get("/admin/dead-letters?consumer=downstream").await;
    assert_eq!(letters.status, 200, "{}", letters.html);
    assert!(letters.has("downstream unavailable"), "{}", letters.html);
    let id = {
        let needle = "action=\"/admin/dead-letters/";
        let at = letters.html.find(needle).expect("a replay form");
        let rest = &letters.html[at + needle.len()..];
        rest[..rest.find('/').expect("an id")].to_owned()
    };
    let again = b
        .post(
            &format!("/admin/dead-letters/{id}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(again.has("Replay failed"), "{}", again.html);
    downstream.failing.store(false, Ordering::SeqCst);
    let replayed = b
        .post(
            &format!("/admin/dead-letters/{id}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(replayed.status, 303, "{}", replayed.html);
    assert!(b
        .get("/admin/dead-letters?consumer=downstream")
        .await
        .has("0 letters"));
    assert!(b
        .get("/admin/dead-letters?status=replayed")
        .await
        .has("downstream unavailable"));

    // Entries reach the log through a queue: the admin's own sign-in shows up shortly.
    let mut log = b.get("/admin/audit?action=auth.login.succeeded").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !log.has("<td><code>") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        log = b.get("/admin/audit?action=auth.login.succeeded").await;
    }
    assert_eq!(log.status, 200, "{}", log.html);
    let actions: Vec<&str> = log
        .html
        .split("<td><code>")
        .skip(1)
        .map(|rest| &rest[..rest.find('<').expect("an end")])
        .collect();
    assert!(!actions.is_empty(), "{}", log.html);
    assert!(
        actions.iter().all(|a| *a == "auth.login.succeeded"),
        "{actions:?}"
    );
    let bad = b.get("/admin/audit?from=yesterday").await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    assert!(bad.has("class=\"alert\""));

    let mut stranger = Browser::new(&app);
    sign_up(&mut stranger, &email()).await;
    assert_eq!(stranger.get("/admin/audit").await.status, 403);
    assert_eq!(stranger.get("/admin/dead-letters").await.status, 403);
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
    an_owner_manages_members_keys_and_webhooks,
    an_organizer_steers_the_waiting_room_and_decides_refunds,
    admins_read_the_audit_log_and_replay_dead_letters,
    seats_are_held_best_available_or_picked_on_the_map,
    an_account_turns_on_its_second_factor_and_signs_out_a_session,
    an_organizer_puts_a_show_on_sale_and_watches_it_sell,
    door_staff_check_tickets_in_and_see_each_verdict,
    a_queued_show_is_bought_through_the_waiting_room_page,
    a_buyer_signs_up_holds_pays_and_sees_the_tickets,
    forms_need_their_csrf_token_and_a_refused_one_changes_nothing,
    errors_are_pages_in_words_and_sign_out_stays_out
);

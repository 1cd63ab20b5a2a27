//! The web UI over HTTP, as a browser without JavaScript uses it: cookies, forms with
//! their CSRF token, redirects. A buyer signs up, browses, holds tickets, pays and sees
//! the tickets; a form without its token changes nothing; errors are pages in words
//! that keep what was typed; a session signed out stays out. (The same flow in real
//! Chromium, with the script, accessibility checks and screenshots, is `e2e/`.)
use crate::on_both_backends;
use crate::support::{client, Backend, ShowSpec, TestApp};

mod admin;
mod organize;
use std::collections::HashMap;

/// A browser: a cookie jar over a client that does not follow redirects.
pub(super) struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

pub(super) struct Page {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    pub(super) content_type: String,
    pub(super) csp: String,
    pub(super) html: String,
}

impl Page {
    /// The value of the first `name="…" value="…"` input of the page.
    pub(super) fn input(&self, name: &str) -> String {
        let at = self
            .html
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("an input {name}: {}", self.html));
        let rest = &self.html[at + name.len() + 15..];
        rest[..rest.find('"').expect("a closing quote")].to_owned()
    }

    /// The inner text of the first element carrying `attr`.
    pub(super) fn text_of(&self, attr: &str) -> String {
        let at = self
            .html
            .find(attr)
            .unwrap_or_else(|| panic!("{attr} on the page: {}", self.html));
        let rest = &self.html[at..];
        let open = rest.find('>').expect("a tag") + 1;
        let close = rest[open..].find('<').expect("an end") + open;
        rest[open..close].trim().to_owned()
    }

    pub(super) fn has(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

impl Browser {
    pub(super) fn new(app: &TestApp) -> Self {
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

    pub(super) async fn get(&mut self, path: &str) -> Page {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    pub(super) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.submit(path, form).await
    }

    pub(super) async fn submit<T: serde::Serialize + ?Sized>(
        &mut self,
        path: &str,
        form: &T,
    ) -> Page {
        let req = self.http.post(format!("{}{path}", self.base)).form(form);
        self.send(req).await
    }
}

/// Posts the event page's reserve form for `show`'s zone.
pub(super) async fn reserve(
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
pub(super) async fn sign_up(b: &mut Browser, email: &str) -> String {
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

pub(super) fn email() -> String {
    format!("ana-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Signs `email` in through the form (the test users' password); the CSRF token.
pub(super) async fn sign_in(b: &mut Browser, email: &str) -> String {
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
pub(super) async fn ticket_codes(app: &TestApp, token: &str, booking: &str) -> Vec<String> {
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
    // The live map is drawn in the page (clickable; no inline style for the policy to
    // refuse): free seats as the list offers them, the two held, the blocked one.
    assert!(
        seats.has("<svg") && seats.has("data-seat-map"),
        "the live map"
    );
    assert!(!seats.has("<style"), "{}", seats.html);
    let circles = |class: &str| {
        let plain = seats
            .html
            .matches(&format!("class=\"{class}\" cx="))
            .count();
        plain
            + seats
                .html
                .matches(&format!("class=\"{class} a\" cx="))
                .count()
    };
    assert_eq!(
        (circles("f"), circles("h"), circles("b")),
        (70 - 1 - 2, 2, 1)
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

on_both_backends!(
    a_buyer_signs_up_holds_pays_and_sees_the_tickets,
    forms_need_their_csrf_token_and_a_refused_one_changes_nothing,
    errors_are_pages_in_words_and_sign_out_stays_out,
    a_queued_show_is_bought_through_the_waiting_room_page,
    an_account_turns_on_its_second_factor_and_signs_out_a_session,
    seats_are_held_best_available_or_picked_on_the_map,
);

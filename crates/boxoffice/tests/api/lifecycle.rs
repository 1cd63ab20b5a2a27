//! The account lifecycle end to end: verification and reset mail delivered to a real
//! SMTP listener (or written as `.eml` files), single-use expiring tokens, password
//! changes, sessions, and the login lockout.
use crate::on_both_backends;
use crate::smtp::{Mail, SilentPeer, SmtpSink};
use crate::support::{free_port, read, Backend, Resp, TestApp, PASSWORD};
use boxoffice::config::{MailTransport, SecretUrl};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NEW_PASSWORD: &str = "a brand new horse battery";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const WAIT: Duration = Duration::from_secs(10);

async fn with_smtp(backend: Backend, sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(backend, move |c| {
        c.mail_transport = MailTransport::Smtp;
        c.smtp_url = Some(SecretUrl::new(url));
    })
    .await
}

/// POST with a user agent of our choosing.
async fn post_as(app: &TestApp, path: &str, user_agent: &str, body: &Value) -> Resp {
    read(
        app.client
            .post(app.url(path))
            .header("user-agent", user_agent)
            .json(body)
            .send()
            .await
            .expect("answered"),
    )
    .await
}

async fn register(app: &TestApp, email: &str) -> Value {
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": email, "password": PASSWORD, "display_name": "Ana Lopes"}),
        )
        .await;
    r.expect(201).clone()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Resp {
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": password}),
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> Resp {
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": token}),
    )
    .await
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

async fn verified(app: &TestApp, access: &str) -> bool {
    app.get("/api/v1/auth/me", Some(access)).await.expect(200)["email_verified"]
        .as_bool()
        .expect("email_verified")
}

async fn verification_is_mailed_over_smtp_and_confirms_the_email(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = with_smtp(backend, &sink).await;
    let tokens = register(&app, "ana@example.com").await;
    let access = s(&tokens, "access_token");
    assert_eq!(tokens["user"]["email_verified"], false);
    assert!(!verified(&app, access).await);

    let (envelope, mail) = sink.next(WAIT).await;
    assert_eq!(envelope.rcpt_to, vec!["ana@example.com"]);
    assert_eq!(envelope.mail_from, "no-reply@boxoffice.local");
    assert_eq!(mail.to, "ana@example.com");
    assert_eq!(mail.subject, "Confirm your email address");
    assert!(mail.alternative, "text and HTML alternatives");
    let token = mail.token();
    assert!(
        mail.html.contains(&token),
        "the HTML body carries the code too"
    );
    assert!(mail.html.contains("Ana Lopes"));

    // A wrong token changes nothing.
    let wrong = app
        .post(
            "/api/v1/auth/verify-email",
            None,
            &json!({"token": "A".repeat(43)}),
        )
        .await;
    wrong.expect_field_error("token");
    assert!(!verified(&app, access).await);

    app.post(
        "/api/v1/auth/verify-email",
        None,
        &json!({ "token": token }),
    )
    .await
    .expect(204);
    assert!(verified(&app, access).await);
    // Single use.
    app.post(
        "/api/v1/auth/verify-email",
        None,
        &json!({ "token": token }),
    )
    .await
    .expect_field_error("token");

    // A verified address gets no more verification mail; a new address does, and
    // is unverified until its own code comes back.
    app.post(
        "/api/v1/auth/verify-email/request",
        Some(access),
        &json!({}),
    )
    .await
    .expect(202);
    let r = app
        .put(
            "/api/v1/auth/me",
            Some(access),
            &json!({"email": "ana.lopes@example.org", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(r.expect(200)["email_verified"], false);
    let (envelope, mail) = sink.next(WAIT).await;
    assert_eq!(envelope.rcpt_to, vec!["ana.lopes@example.org"]);
    app.post(
        "/api/v1/auth/verify-email",
        None,
        &json!({"token": mail.token()}),
    )
    .await
    .expect(204);
    assert!(verified(&app, access).await);
}

async fn a_verification_code_expires_after_a_day(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = with_smtp(backend, &sink).await;
    let tokens = register(&app, "late@example.com").await;
    let (_, mail) = sink.next(WAIT).await;
    app.clock.advance_secs(24 * 3600 + 1);
    app.post(
        "/api/v1/auth/verify-email",
        None,
        &json!({"token": mail.token()}),
    )
    .await
    .expect_field_error("token");
    // A fresh one works (a day later, through a refreshed access token).
    let now = refresh(&app, s(&tokens, "refresh_token"))
        .await
        .expect(200)
        .clone();
    app.post(
        "/api/v1/auth/verify-email/request",
        Some(s(&now, "access_token")),
        &json!({}),
    )
    .await
    .expect(202);
    let (_, mail) = sink.next(WAIT).await;
    app.post(
        "/api/v1/auth/verify-email",
        None,
        &json!({"token": mail.token()}),
    )
    .await
    .expect(204);
    assert!(verified(&app, s(&now, "access_token")).await);
}

async fn password_reset_end_to_end(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = with_smtp(backend, &sink).await;
    let first = register(&app, "ana@example.com").await;
    let _ = sink.next(WAIT).await; // verification
    let second = login(&app, "ana@example.com", PASSWORD)
        .await
        .expect(200)
        .clone();

    // The same answer for an unknown email, and no mail for it.
    let unknown = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    unknown.expect(202);
    let known = app
        .post(
            "/api/v1/auth/password/forgot",
            None,
            &json!({"email": "ana@example.com"}),
        )
        .await;
    known.expect(202);
    assert_eq!(unknown.text, known.text);
    let (envelope, mail) = sink.next(WAIT).await;
    assert_eq!(envelope.rcpt_to, vec!["ana@example.com"]);
    assert_eq!(mail.subject, "Reset your password");
    let token = mail.token();

    // Bad input changes nothing and spends nothing.
    app.post(
        "/api/v1/auth/password/reset",
        None,
        &json!({"token": token, "password": "short"}),
    )
    .await
    .expect_field_error("password");
    app.post(
        "/api/v1/auth/password/reset",
        None,
        &json!({"token": "B".repeat(43), "password": NEW_PASSWORD}),
    )
    .await
    .expect_field_error("token");
    login(&app, "ana@example.com", PASSWORD).await.expect(200);

    app.post(
        "/api/v1/auth/password/reset",
        None,
        &json!({"token": token, "password": NEW_PASSWORD}),
    )
    .await
    .expect(204);
    login(&app, "ana@example.com", PASSWORD).await.expect(401);
    let fresh = login(&app, "ana@example.com", NEW_PASSWORD)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        fresh["user"]["email_verified"], true,
        "the mailbox is proven"
    );
    // Every session from before the reset is signed out.
    for old in [&first, &second] {
        refresh(&app, s(old, "refresh_token"))
            .await
            .expect_problem(401, "/problems/unauthorized");
    }
    refresh(&app, s(&fresh, "refresh_token")).await.expect(200);
    // Single use.
    app.post(
        "/api/v1/auth/password/reset",
        None,
        &json!({"token": token, "password": "yet another horse battery"}),
    )
    .await
    .expect_field_error("token");
    login(&app, "ana@example.com", NEW_PASSWORD)
        .await
        .expect(200);

    // A code is good for an hour by the app's clock.
    app.post(
        "/api/v1/auth/password/forgot",
        None,
        &json!({"email": "ana@example.com"}),
    )
    .await
    .expect(202);
    let (_, mail) = sink.next(WAIT).await;
    app.clock.advance_secs(3601);
    app.post(
        "/api/v1/auth/password/reset",
        None,
        &json!({"token": mail.token(), "password": "yet another horse battery"}),
    )
    .await
    .expect_field_error("token");
    login(&app, "ana@example.com", NEW_PASSWORD)
        .await
        .expect(200);
}

async fn change_password_signs_out_the_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let here = register(&app, "ana@example.com").await;
    let there = login(&app, "ana@example.com", PASSWORD)
        .await
        .expect(200)
        .clone();
    let access = s(&here, "access_token");

    let path = "/api/v1/auth/password";
    app.post(
        path,
        Some(access),
        &json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
    )
    .await
    .expect_field_error("current_password");
    app.post(
        path,
        Some(access),
        &json!({"current_password": PASSWORD, "new_password": "aaaaaaaaaaaa"}),
    )
    .await
    .expect_field_error("new_password");
    app.post(
        path,
        None,
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    // Nothing changed so far.
    refresh(&app, s(&there, "refresh_token")).await.expect(200);
    let there = login(&app, "ana@example.com", PASSWORD)
        .await
        .expect(200)
        .clone();

    app.post(
        path,
        Some(access),
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect(204);
    refresh(&app, s(&there, "refresh_token"))
        .await
        .expect_problem(401, "/problems/unauthorized");
    let kept = refresh(&app, s(&here, "refresh_token")).await;
    kept.expect(200);
    login(&app, "ana@example.com", PASSWORD).await.expect(401);
    login(&app, "ana@example.com", NEW_PASSWORD)
        .await
        .expect(200);
}

async fn sessions_are_listed_and_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    register(&app, "ana@example.com").await;
    let creds = json!({"email": "ana@example.com", "password": PASSWORD});
    let laptop = post_as(&app, "/api/v1/auth/login", FIREFOX, &creds)
        .await
        .expect(200)
        .clone();
    let phone = post_as(&app, "/api/v1/auth/login", "curl/8.5.0", &creds)
        .await
        .expect(200)
        .clone();
    let access = s(&laptop, "access_token");

    let list = app.get("/api/v1/auth/sessions", Some(access)).await;
    let sessions = list.expect(200).as_array().expect("a list").clone();
    assert_eq!(
        sessions.len(),
        3,
        "registration and two logins: {sessions:?}"
    );
    let mine: Vec<&Value> = sessions.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["device"], "Firefox on Linux");
    assert_eq!(mine[0]["user_agent"], FIREFOX);
    assert_eq!(mine[0]["ip"], "127.0.0.1");
    let phone_id = sessions
        .iter()
        .find(|x| x["device"] == "curl")
        .map(|x| s(x, "id").to_owned())
        .expect("the phone's session");

    // Refreshing touches the session.
    app.clock.advance_secs(60);
    let rotated = post_as(
        &app,
        "/api/v1/auth/refresh",
        "curl/8.6.0",
        &json!({"refresh_token": s(&phone, "refresh_token")}),
    )
    .await
    .expect(200)
    .clone();
    let list = app.get("/api/v1/auth/sessions", Some(access)).await;
    let first = &list.expect(200)[0];
    assert_eq!(first["id"], phone_id.as_str(), "most recently used first");
    assert_eq!(first["user_agent"], "curl/8.6.0");

    // Another account cannot see or end it.
    let other = app.buyer().await;
    app.delete(
        &format!("/api/v1/auth/sessions/{phone_id}"),
        Some(&other.token),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    refresh(&app, s(&rotated, "refresh_token"))
        .await
        .expect(200);
    let rotated = login(&app, "ana@example.com", PASSWORD).await; // a fourth session
    rotated.expect(200);

    app.delete(&format!("/api/v1/auth/sessions/{phone_id}"), Some(access))
        .await
        .expect(204);
    app.delete(&format!("/api/v1/auth/sessions/{phone_id}"), Some(access))
        .await
        .expect_problem(404, "/problems/not-found");
    app.delete("/api/v1/auth/sessions/not-a-uuid", Some(access))
        .await
        .expect_problem(400, "/problems/malformed-request");
    let list = app.get("/api/v1/auth/sessions", Some(access)).await;
    assert!(list
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["id"] != phone_id.as_str()));

    // All the others: only the caller's session is left, and it still refreshes.
    let r = app.delete("/api/v1/auth/sessions", Some(access)).await;
    assert_eq!(r.expect(200)["revoked"], 2);
    let list = app.get("/api/v1/auth/sessions", Some(access)).await;
    let left = list.expect(200).as_array().unwrap().clone();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    refresh(&app, s(rotated.expect(200), "refresh_token"))
        .await
        .expect_problem(401, "/problems/unauthorized");

    // Logging out ends the session.
    let fresh = refresh(&app, s(&laptop, "refresh_token"))
        .await
        .expect(200)
        .clone();
    app.post(
        "/api/v1/auth/logout",
        None,
        &json!({"refresh_token": s(&fresh, "refresh_token")}),
    )
    .await
    .expect(204);
    let list = app.get("/api/v1/auth/sessions", Some(access)).await;
    assert_eq!(list.expect(200).as_array().unwrap().len(), 0);
}

async fn lockout_grows_and_success_resets_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.buyer().await;
    for _ in 0..5 {
        login(&app, &user.email, "wrong password!")
            .await
            .expect(401);
    }
    // Locked for 1 s: even the right password is refused, with the same answer.
    let locked = login(&app, &user.email, PASSWORD).await;
    let wrong = login(&app, &user.email, "wrong password!").await;
    locked.expect_problem(401, "/problems/unauthorized");
    assert_eq!(locked.body["detail"], wrong.body["detail"]);
    app.clock.advance_secs(2);
    // The sixth counted failure locks for 2 s.
    login(&app, &user.email, "wrong password!")
        .await
        .expect(401);
    app.clock.advance_secs(1);
    login(&app, &user.email, PASSWORD).await.expect(401);
    app.clock.advance_secs(2);
    login(&app, &user.email, PASSWORD).await.expect(200);
    // Success starts the count over: four failures lock nothing.
    for _ in 0..4 {
        login(&app, &user.email, "wrong password!")
            .await
            .expect(401);
    }
    login(&app, &user.email, PASSWORD).await.expect(200);
}

async fn unknown_emails_and_wrong_passwords_answer_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.buyer().await;
    let strip = |r: &Resp| {
        let mut b = r.body.clone();
        let fields = b.as_object_mut().unwrap();
        // Each request has its own ids.
        fields.remove("request_id");
        fields.remove("trace_id");
        (r.status, b)
    };
    let (mut wrong_ms, mut unknown_ms) = (u128::MAX, u128::MAX);
    // Up to and past the lockout threshold, answer for answer.
    for n in 0..7 {
        let t = Instant::now();
        let wrong = login(&app, &user.email, "wrong password!").await;
        wrong_ms = wrong_ms.min(t.elapsed().as_millis());
        let t = Instant::now();
        let unknown = login(&app, "nobody@example.com", "wrong password!").await;
        unknown_ms = unknown_ms.min(t.elapsed().as_millis());
        assert_eq!(strip(&wrong), strip(&unknown), "attempt {n}");
        assert_eq!(wrong.status, 401);
        if n == 3 {
            // Compare timings before the lockout skips the hash for both.
            assert!(
                unknown_ms * 4 >= wrong_ms,
                "an unknown email costs a hash too ({unknown_ms} ms vs {wrong_ms} ms)"
            );
        }
    }
}

async fn an_smtp_peer_that_is_down_or_hung_does_not_fail_requests(backend: Backend) {
    let silent = SilentPeer::start().await;
    for url in [
        format!("smtp://127.0.0.1:{}", free_port()),
        format!("smtp://127.0.0.1:{}", silent.port),
    ] {
        let app = TestApp::spawn_with(backend, move |c| {
            c.mail_transport = MailTransport::Smtp;
            c.smtp_url = Some(SecretUrl::new(url));
            c.smtp_timeout_secs = 30;
        })
        .await;
        let started = Instant::now();
        let tokens = register(&app, "ana@example.com").await;
        app.post(
            "/api/v1/auth/password/forgot",
            None,
            &json!({"email": "ana@example.com"}),
        )
        .await
        .expect(202);
        app.post(
            "/api/v1/auth/verify-email/request",
            Some(s(&tokens, "access_token")),
            &json!({}),
        )
        .await
        .expect(202);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the requests did not wait for mail: {:?}",
            started.elapsed()
        );
        app.stop().await;
    }
}

on_both_backends!(
    verification_is_mailed_over_smtp_and_confirms_the_email,
    a_verification_code_expires_after_a_day,
    password_reset_end_to_end,
    change_password_signs_out_the_other_sessions,
    sessions_are_listed_and_revoked,
    lockout_grows_and_success_resets_it,
    unknown_emails_and_wrong_passwords_answer_alike,
);

#[tokio::test]
async fn smtp_trouble_does_not_fail_requests() {
    an_smtp_peer_that_is_down_or_hung_does_not_fail_requests(Backend::Sqlite).await;
}

/// The embedded default needs no configuration: mail lands in the folder as `.eml`.
#[tokio::test]
async fn the_default_transport_writes_eml_files() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let tokens = register(&app, "ana@example.com").await;
    let dir = app.mail_dir.path().to_owned();
    let file = crate::support::eventually(WAIT, "an .eml file", || {
        let dir = dir.clone();
        async move {
            std::fs::read_dir(&dir)
                .ok()?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        }
    })
    .await;
    let mail = Mail::parse(&std::fs::read(&file).expect("readable"));
    assert_eq!(mail.to, "ana@example.com");
    assert_eq!(mail.from, "no-reply@boxoffice.local");
    assert!(mail.alternative);
    assert!(mail.html.contains(&mail.token()));
    app.post(
        "/api/v1/auth/verify-email",
        None,
        &json!({"token": mail.token()}),
    )
    .await
    .expect(204);
    assert!(verified(&app, s(&tokens, "access_token")).await);
}

/// Tokens without a session (bulk-provisioned buyers) list none and may still sign
/// out every session of the account.
#[tokio::test]
async fn tokens_outside_a_session_see_no_current_session() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let user = app.buyer().await;
    let signed_in = login(&app, &user.email, PASSWORD).await.expect(200).clone();
    let list = app.get("/api/v1/auth/sessions", Some(&user.token)).await;
    let sessions = list.expect(200).as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["current"], false);
    let r = app.delete("/api/v1/auth/sessions", Some(&user.token)).await;
    assert_eq!(r.expect(200)["revoked"], 1);
    refresh(&app, s(&signed_in, "refresh_token"))
        .await
        .expect(401);
}

#[tokio::test]
async fn malformed_lifecycle_requests_are_refused_and_change_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let user = app.buyer().await;
    for (path, body) in [
        ("/api/v1/auth/verify-email", json!({"token": 5})),
        ("/api/v1/auth/verify-email", json!({})),
        (
            "/api/v1/auth/password/reset",
            json!({"token": "x", "password": PASSWORD, "extra": 1}),
        ),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "not an email"}),
        ),
        (
            "/api/v1/auth/password",
            json!({"current_password": PASSWORD}),
        ),
    ] {
        let r = app.post(path, Some(&user.token), &body).await;
        r.expect_problem(422, "/problems/validation");
    }
    let huge = json!({"token": "A".repeat(100_000)});
    app.post("/api/v1/auth/verify-email", None, &huge)
        .await
        .expect_problem(413, "/problems/payload-too-large");
    let r = read(
        app.client
            .post(app.url("/api/v1/auth/password/forgot"))
            .body("{\"email\": ")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.expect_problem(400, "/problems/malformed-request");
    login(&app, &user.email, PASSWORD).await.expect(200);
}

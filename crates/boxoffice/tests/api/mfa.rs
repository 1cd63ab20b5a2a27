//! TOTP MFA end to end: enrolment, the two-step login, replay and single-use rules,
//! trusted devices, disabling, the platform policy, key rotation of the sealed
//! secrets, and logs that never carry a secret, a code or a token.
use crate::on_both_backends;
use crate::support::{Backend, Resp, TestApp, User, PASSWORD};
use boxoffice::clock::Clock;
use boxoffice_domain::account::Role;
use boxoffice_domain::Timestamp;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use totp_rs::{Algorithm, Secret, TOTP};

/// The code an authenticator app shows for `secret` at `at` (computed here with the
/// library directly, not with the server's code).
fn code_at(secret: &str, at: Timestamp) -> String {
    let bytes = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .expect("base32 secret");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 0, 30, bytes, None, String::new())
        .generate(u64::try_from(at.millis() / 1000).expect("after 1970"))
}

pub(crate) fn code_now(app: &TestApp, secret: &str) -> String {
    code_at(secret, app.clock.now())
}

/// Moves the clock to the start of the next 30-second step, so a fresh code exists.
pub(crate) fn next_step(app: &TestApp) {
    let secs = app.clock.now().millis() / 1000;
    app.clock.advance_secs(30 - secs % 30);
}

fn str_of(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .to_owned()
}

struct Enrolled {
    user: User,
    secret: String,
    backup_codes: Vec<String>,
}

async fn enrol(app: &TestApp, user: User) -> Enrolled {
    let r = app
        .post("/api/v1/auth/mfa/totp", Some(&user.token), &json!({}))
        .await;
    let secret = str_of(r.expect(201), "secret");
    let r = app
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&user.token),
            &json!({"code": code_now(app, &secret)}),
        )
        .await;
    let backup_codes = r.expect(200)["backup_codes"]
        .as_array()
        .expect("backup codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    // The confirming code is spent: the next check needs the next step.
    next_step(app);
    Enrolled {
        user,
        secret,
        backup_codes,
    }
}

async fn login(app: &TestApp, email: &str, trusted_device: Option<&str>) -> Resp {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(t) = trusted_device {
        body["trusted_device"] = json!(t);
    }
    app.post("/api/v1/auth/login", None, &body).await
}

/// Logs in up to the challenge; its `mfa_token`.
async fn challenge(app: &TestApp, email: &str) -> String {
    let r = login(app, email, None).await;
    let body = r.expect(202);
    assert_eq!(body["methods"], json!(["totp", "backup_code"]));
    assert_eq!(body["expires_in"], 300);
    assert!(body.get("access_token").is_none(), "no tokens before MFA");
    str_of(body, "mfa_token")
}

async fn answer(app: &TestApp, mfa_token: &str, proof: Value) -> Resp {
    let mut body = proof;
    body["mfa_token"] = json!(mfa_token);
    app.post("/api/v1/auth/login/mfa", None, &body).await
}

async fn status(app: &TestApp, token: &str) -> Value {
    app.get("/api/v1/auth/mfa", Some(token))
        .await
        .expect(200)
        .clone()
}

async fn enrolment_and_two_step_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.buyer().await;

    let r = app
        .post("/api/v1/auth/mfa/totp", Some(&user.token), &json!({}))
        .await;
    let body = r.expect(201);
    let secret = str_of(body, "secret");
    let uri = str_of(body, "otpauth_uri");
    let encoded_email = user.email.replace('@', "%40");
    assert!(
        uri.starts_with(&format!("otpauth://totp/boxoffice:{encoded_email}?")),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=boxoffice"));
    let svg = str_of(body, "qr_svg");
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));

    // Pending: not active yet, the login is still one step.
    let s = status(&app, &user.token).await;
    assert_eq!(
        (s["enabled"].clone(), s["pending"].clone()),
        (json!(false), json!(true))
    );
    login(&app, &user.email, None).await.expect(200);

    // A wrong or malformed first code changes nothing.
    let right = code_now(&app, &secret);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for bad in [wrong, "12345", "abcdef"] {
        let r = app
            .post(
                "/api/v1/auth/mfa/totp/confirm",
                Some(&user.token),
                &json!({"code": bad}),
            )
            .await;
        r.expect_field_error("code");
    }
    assert_eq!(status(&app, &user.token).await["enabled"], false);

    let r = app
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&user.token),
            &json!({"code": right}),
        )
        .await;
    let codes = r.expect(200)["backup_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    let s = status(&app, &user.token).await;
    assert_eq!(
        (s["enabled"].clone(), s["backup_codes_left"].clone()),
        (json!(true), json!(10))
    );
    // Enrolling again, or confirming again, is refused while MFA is on.
    for (path, body) in [
        ("/api/v1/auth/mfa/totp", json!({})),
        ("/api/v1/auth/mfa/totp/confirm", json!({"code": right})),
    ] {
        let r = app.post(path, Some(&user.token), &body).await;
        r.expect_problem(409, "/problems/invalid-state");
    }

    // Two steps now; the confirming code cannot be replayed for the login.
    let token = challenge(&app, &user.email).await;
    answer(&app, &token, json!({"code": right}))
        .await
        .expect_problem(401, "/problems/unauthorized");
    answer(&app, &token, json!({"code": wrong}))
        .await
        .expect_problem(401, "/problems/unauthorized");
    next_step(&app);
    let code = code_now(&app, &secret);
    let r = answer(&app, &token, json!({"code": code})).await;
    let tokens = r.expect(200).clone();
    assert!(tokens["trusted_device"].is_null());
    let access = str_of(&tokens, "access_token");
    let me = app.get("/api/v1/auth/me", Some(&access)).await;
    assert_eq!(me.expect(200)["email"], user.email.as_str());
    // The challenge is spent, and the same code does not work twice.
    answer(&app, &token, json!({"code": code}))
        .await
        .expect_problem(401, "/problems/unauthorized");
    let again = challenge(&app, &user.email).await;
    let r = answer(&app, &again, json!({"code": code})).await;
    r.expect_problem(401, "/problems/unauthorized");
    assert!(r.body["detail"].as_str().unwrap().contains("already used"));

    // A challenge expires after five minutes.
    app.clock.advance_secs(301);
    let r = answer(&app, &again, json!({"code": code_now(&app, &secret)})).await;
    r.expect_problem(401, "/problems/unauthorized");
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
    // Forged tokens and malformed answers.
    answer(&app, "forged", json!({"code": code_now(&app, &secret)}))
        .await
        .expect_problem(401, "/problems/unauthorized");
    let fresh = challenge(&app, &user.email).await;
    answer(&app, &fresh, json!({}))
        .await
        .expect_field_error("code");
    answer(&app, &fresh, json!({"code": "1234567"}))
        .await
        .expect_field_error("code");
    answer(
        &app,
        &fresh,
        json!({"code": code_now(&app, &secret), "backup_code": "abcde-fghij"}),
    )
    .await
    .expect_field_error("code");
    // Five wrong codes spend a challenge.
    for _ in 0..5 {
        answer(&app, &fresh, json!({"code": wrong}))
            .await
            .expect(401);
    }
    let r = answer(&app, &fresh, json!({"code": code_now(&app, &secret)})).await;
    r.expect_problem(401, "/problems/unauthorized");
    assert!(r.body["detail"].as_str().unwrap().contains("too many"));
    app.stop().await;
}

async fn backup_codes_are_single_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let e = enrol(&app, app.buyer().await).await;
    let first = e.backup_codes[0].clone();

    let token = challenge(&app, &e.user.email).await;
    let r = answer(&app, &token, json!({"backup_code": first.to_uppercase()})).await;
    let access = str_of(r.expect(200), "access_token");
    assert_eq!(status(&app, &access).await["backup_codes_left"], 9);
    let token = challenge(&app, &e.user.email).await;
    answer(&app, &token, json!({"backup_code": first}))
        .await
        .expect_problem(401, "/problems/unauthorized");
    // Another account's code is nobody's code here.
    let other = enrol(&app, app.buyer().await).await;
    answer(&app, &token, json!({"backup_code": other.backup_codes[0]}))
        .await
        .expect_problem(401, "/problems/unauthorized");

    // Regenerating needs a current code and retires the old ones.
    let r = app
        .post(
            "/api/v1/auth/mfa/backup-codes",
            Some(&access),
            &json!({"code": "000000"}),
        )
        .await;
    if code_now(&app, &e.secret) != "000000" {
        r.expect_field_error("code");
    }
    next_step(&app);
    let r = app
        .post(
            "/api/v1/auth/mfa/backup-codes",
            Some(&access),
            &json!({"code": code_now(&app, &e.secret)}),
        )
        .await;
    let fresh = r.expect(200)["backup_codes"].as_array().unwrap().clone();
    assert_eq!(fresh.len(), 10);
    assert_eq!(status(&app, &access).await["backup_codes_left"], 10);
    let token = challenge(&app, &e.user.email).await;
    answer(&app, &token, json!({"backup_code": e.backup_codes[1]}))
        .await
        .expect_problem(401, "/problems/unauthorized");
    answer(&app, &token, json!({"backup_code": fresh[0]}))
        .await
        .expect(200);
    app.stop().await;
}

async fn trusted_devices_skip_the_second_step_until_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let e = enrol(&app, app.buyer().await).await;
    let other = enrol(&app, app.buyer().await).await;

    let token = challenge(&app, &e.user.email).await;
    let r = answer(
        &app,
        &token,
        json!({"code": code_now(&app, &e.secret), "trust_device": true}),
    )
    .await;
    let body = r.expect(200).clone();
    let device = str_of(&body["trusted_device"], "token");
    let device_id = str_of(&body["trusted_device"], "id");
    let access = str_of(&body, "access_token");

    // The device skips the second step for this account only.
    let r = login(&app, &e.user.email, Some(&device)).await;
    assert!(r.expect(200)["access_token"].is_string());
    login(&app, &other.user.email, Some(&device))
        .await
        .expect(202);
    login(&app, &e.user.email, Some("forged-device-token"))
        .await
        .expect(202);
    // A right device never stands in for the password.
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": e.user.email, "password": "not the password", "trusted_device": device}),
        )
        .await;
    r.expect_problem(401, "/problems/unauthorized");

    let list = app
        .get("/api/v1/auth/mfa/trusted-devices", Some(&access))
        .await;
    let devices = list.expect(200)["trusted_devices"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["id"], device_id.as_str());
    assert!(devices[0]["last_used_at"].is_string());
    assert_eq!(
        status(&app, &access).await["trusted_devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Another account cannot revoke it; its owner can.
    let other_token = app.token_for(&other.user);
    app.delete(
        &format!("/api/v1/auth/mfa/trusted-devices/{device_id}"),
        Some(&other_token),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    login(&app, &e.user.email, Some(&device)).await.expect(200);
    app.delete(
        &format!("/api/v1/auth/mfa/trusted-devices/{device_id}"),
        Some(&access),
    )
    .await
    .expect(204);
    login(&app, &e.user.email, Some(&device)).await.expect(202);
    app.delete(
        &format!("/api/v1/auth/mfa/trusted-devices/{device_id}"),
        Some(&access),
    )
    .await
    .expect(404);

    // Trust lasts 30 days; revoking all ends every device at once.
    let mut devices = Vec::new();
    for _ in 0..2 {
        next_step(&app);
        let token = challenge(&app, &e.user.email).await;
        let r = answer(
            &app,
            &token,
            json!({"code": code_now(&app, &e.secret), "trust_device": true}),
        )
        .await;
        devices.push(str_of(&r.expect(200)["trusted_device"], "token"));
    }
    let access = app.token_for(&e.user);
    app.delete("/api/v1/auth/mfa/trusted-devices", Some(&access))
        .await
        .expect(204);
    login(&app, &e.user.email, Some(&devices[0]))
        .await
        .expect(202);
    login(&app, &e.user.email, Some(&devices[1]))
        .await
        .expect(202);
    next_step(&app);
    let token = challenge(&app, &e.user.email).await;
    let r = answer(
        &app,
        &token,
        json!({"code": code_now(&app, &e.secret), "trust_device": true}),
    )
    .await;
    let device = str_of(&r.expect(200)["trusted_device"], "token");
    app.clock.advance_secs(29 * 24 * 3600);
    login(&app, &e.user.email, Some(&device)).await.expect(200);
    app.clock.advance_secs(2 * 24 * 3600);
    login(&app, &e.user.email, Some(&device)).await.expect(202);
    app.stop().await;
}

async fn disabling_needs_the_password_and_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let e = enrol(&app, app.buyer().await).await;
    let token = app.token_for(&e.user);
    let disable = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.send(
                Method::DELETE,
                "/api/v1/auth/mfa/totp",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    let code = code_now(&app, &e.secret);
    disable(json!({"password": "not the password", "code": code}))
        .await
        .expect_field_error("password");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    disable(json!({"password": PASSWORD, "code": wrong}))
        .await
        .expect_field_error("code");
    disable(json!({"password": PASSWORD}))
        .await
        .expect_field_error("code");
    disable(json!({"password": PASSWORD, "backup_code": "zzzzz-zzzzz"}))
        .await
        .expect_field_error("backup_code");
    app.send(
        Method::DELETE,
        "/api/v1/auth/mfa/totp",
        None,
        Some(&json!({"password": PASSWORD, "code": code})),
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    assert_eq!(status(&app, &token).await["enabled"], true);
    login(&app, &e.user.email, None).await.expect(202);

    disable(json!({"password": PASSWORD, "code": code}))
        .await
        .expect(204);
    let s = status(&app, &token).await;
    assert_eq!(
        (s["enabled"].clone(), s["backup_codes_left"].clone()),
        (json!(false), json!(0))
    );
    login(&app, &e.user.email, None).await.expect(200);
    disable(json!({"password": PASSWORD, "code": code}))
        .await
        .expect_problem(409, "/problems/invalid-state");

    // A backup code also disables (the phone is lost).
    let e = enrol(&app, e.user).await;
    let r = app
        .send(
            Method::DELETE,
            "/api/v1/auth/mfa/totp",
            Some(&token),
            Some(&json!({"password": PASSWORD, "backup_code": e.backup_codes[3]})),
        )
        .await;
    r.expect(204);
    app.stop().await;
}

on_both_backends!(
    enrolment_and_two_step_login,
    backup_codes_are_single_use,
    trusted_devices_skip_the_second_step_until_revoked,
    disabling_needs_the_password_and_a_code,
    rotate_key_reseals_every_secret,
);

#[tokio::test]
async fn the_policy_holds_admins_at_enrolment_until_they_have_mfa() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.mfa_required_roles = vec!["admin".into(), "organizer".into()];
    })
    .await;
    let admin = app.admin().await;
    let r = login(&app, &admin.email, None).await;
    let tokens = r.expect(200).clone();
    let access = str_of(&tokens, "access_token");
    let bulk = json!({"count": 1, "prefix": "mfa", "password": PASSWORD});

    let r = app
        .post("/api/v1/admin/users/bulk", Some(&access), &bulk)
        .await;
    r.expect_problem(403, "/problems/mfa-required");
    let r = app
        .post(
            "/api/v1/events",
            Some(&access),
            &json!({"title": "Blocked", "category": "concert", "city": "Lyon"}),
        )
        .await;
    r.expect_problem(403, "/problems/mfa-required");
    app.get("/api/v1/auth/me", Some(&access)).await.expect(200);
    assert_eq!(status(&app, &access).await["required"], true);
    // Buyers are not concerned.
    let buyer = app.buyer().await;
    app.get("/api/v1/bookings", Some(&buyer.token))
        .await
        .expect(200);

    // Enrolling is allowed; the refreshed session has MFA and passes.
    let user = User {
        token: access.clone(),
        ..admin.clone()
    };
    let e = enrol(&app, user).await;
    app.post("/api/v1/admin/users/bulk", Some(&access), &bulk)
        .await
        .expect_problem(403, "/problems/mfa-required");
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": str_of(&tokens, "refresh_token")}),
        )
        .await;
    let refreshed = str_of(r.expect(200), "access_token");
    app.post("/api/v1/admin/users/bulk", Some(&refreshed), &bulk)
        .await
        .expect(201);
    // So does a fresh two-step login.
    let token = challenge(&app, &e.user.email).await;
    let r = answer(&app, &token, json!({"code": code_now(&app, &e.secret)})).await;
    let access = str_of(r.expect(200), "access_token");
    app.post("/api/v1/admin/users/bulk", Some(&access), &bulk)
        .await
        .expect(201);
    app.stop().await;
}

/// The `secret` column as stored.
async fn raw_secret(app: &TestApp, user: &User) -> String {
    let sql = "SELECT secret FROM mfa_totp WHERE user_id = ";
    match app.db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let s: String = sqlx::query_scalar(&format!("{sql}?"))
                .bind(user.id.to_string())
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            s
        }
        Backend::Postgres | Backend::Redis => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let s: String = sqlx::query_scalar(&format!("{sql}$1"))
                .bind(user.id.to_string())
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            s
        }
    }
}

/// Runs `boxoffice admin rotate-key` against the test database.
fn rotate_key_command(app: &TestApp, resume: bool) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    cmd.args(["admin", "rotate-key"])
        .env("BOXOFFICE_DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir());
    if resume {
        cmd.arg("--resume");
    }
    let out = cmd.output().expect("the binary runs");
    assert!(
        out.status.success(),
        "rotate-key failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn rotate_key_reseals_every_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = enrol(&app, app.buyer().await).await;
    let b = enrol(&app, app.buyer().await).await;
    // A pending enrolment is sealed too.
    let pending = app.buyer().await;
    let r = app
        .post("/api/v1/auth/mfa/totp", Some(&pending.token), &json!({}))
        .await;
    let pending_secret = str_of(r.expect(201), "secret");

    let before = raw_secret(&app, &a.user).await;
    assert!(before.starts_with("v1:"), "{before}");
    assert!(!before.contains(&a.secret));

    let out = rotate_key_command(&app, false);
    assert!(out.contains("3 values sealed under key v2 (new)"), "{out}");
    for (user, old) in [(&a.user, Some(&before)), (&b.user, None), (&pending, None)] {
        let now = raw_secret(&app, user).await;
        assert!(now.starts_with("v2:"), "{now}");
        if let Some(old) = old {
            assert_ne!(&now, old);
        }
    }
    // Running again with --resume finds nothing left: idempotent.
    let out = rotate_key_command(&app, true);
    assert!(out.contains("0 values sealed under key v2"), "{out}");

    // The running server opens the re-sealed secrets (it learns the new key).
    for e in [&a, &b] {
        let token = challenge(&app, &e.user.email).await;
        answer(&app, &token, json!({"code": code_now(&app, &e.secret)}))
            .await
            .expect(200);
    }
    let r = app
        .post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&pending.token),
            &json!({"code": code_now(&app, &pending_secret)}),
        )
        .await;
    r.expect(200);
    // And seals new secrets under it from now on.
    let c = enrol(&app, app.buyer().await).await;
    assert!(raw_secret(&app, &c.user).await.starts_with("v2:"));
    app.stop().await;
}

/// A log sink for one test: every thread of its runtime writes here.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_secret_code_or_token_reaches_the_logs() {
    let sink = Captured::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    let per_thread = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // Held for the thread's life: the runtime's threads log to the sink.
            std::mem::forget(tracing::dispatcher::set_default(&per_thread));
        })
        .build()
        .unwrap();
    let secrets = tracing::dispatcher::with_default(&dispatch, || {
        runtime.block_on(async {
            let app = TestApp::spawn(Backend::Sqlite).await;
            let mut seen: Vec<String> = vec![PASSWORD.into()];
            let e = enrol(&app, app.buyer().await).await;
            seen.push(e.secret.clone());
            seen.extend(e.backup_codes.iter().cloned());
            seen.extend(e.backup_codes.iter().map(|c| c.replace('-', "")));

            let token = challenge(&app, &e.user.email).await;
            seen.push(token.clone());
            let code = code_now(&app, &e.secret);
            seen.push(code.clone());
            let wrong = if code == "999999" { "999998" } else { "999999" };
            answer(&app, &token, json!({"code": wrong}))
                .await
                .expect(401);
            let r = answer(&app, &token, json!({"code": code, "trust_device": true})).await;
            let body = r.expect(200).clone();
            for t in [
                str_of(&body, "access_token"),
                str_of(&body, "refresh_token"),
                str_of(&body["trusted_device"], "token"),
            ] {
                seen.push(t);
            }
            let device = str_of(&body["trusted_device"], "token");
            login(&app, &e.user.email, Some(&device)).await.expect(200);
            let token = challenge(&app, &e.user.email).await;
            seen.push(token.clone());
            answer(&app, &token, json!({"backup_code": e.backup_codes[0]}))
                .await
                .expect(200);
            answer(&app, &token, json!({"code": code}))
                .await
                .expect(401);
            let raw = raw_secret(&app, &e.user).await;
            seen.push(raw.split_once(':').unwrap().1.to_owned());
            app.stop().await;
            seen
        })
    });
    drop(runtime);
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("MFA enabled") && logs.contains("device trusted"),
        "the capture works: {} bytes",
        logs.len()
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret, code or token reached the logs: {secret}"
        );
    }
}

#[tokio::test]
async fn mfa_endpoints_need_a_token_and_refuse_bad_input() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (method, path) in [
        (Method::GET, "/api/v1/auth/mfa"),
        (Method::POST, "/api/v1/auth/mfa/totp"),
        (Method::POST, "/api/v1/auth/mfa/totp/confirm"),
        (Method::POST, "/api/v1/auth/mfa/backup-codes"),
        (Method::GET, "/api/v1/auth/mfa/trusted-devices"),
        (Method::DELETE, "/api/v1/auth/mfa/trusted-devices"),
    ] {
        let r = app.send(method, path, None, Some(&json!({}))).await;
        r.expect_problem(401, "/problems/unauthorized");
    }
    let user = app.buyer().await;
    // Nothing pending, nothing enabled.
    app.post(
        "/api/v1/auth/mfa/totp/confirm",
        Some(&user.token),
        &json!({"code": "123456"}),
    )
    .await
    .expect_problem(409, "/problems/invalid-state");
    app.post(
        "/api/v1/auth/mfa/backup-codes",
        Some(&user.token),
        &json!({"code": "123456"}),
    )
    .await
    .expect_problem(409, "/problems/invalid-state");
    app.post(
        "/api/v1/auth/mfa/totp/confirm",
        Some(&user.token),
        &json!({"code": 123456}),
    )
    .await
    .expect_field_error("code");
    app.post(
        "/api/v1/auth/mfa/totp/confirm",
        Some(&user.token),
        &json!({"code": "123456", "extra": 1}),
    )
    .await
    .expect_field_error("extra");
    app.delete(
        "/api/v1/auth/mfa/trusted-devices/not-a-uuid",
        Some(&user.token),
    )
    .await
    .expect_problem(400, "/problems/malformed-request");
    let s = status(&app, &user.token).await;
    assert_eq!(
        (
            s["enabled"].clone(),
            s["pending"].clone(),
            s["required"].clone()
        ),
        (json!(false), json!(false), json!(false))
    );
    assert_eq!(Role::Buyer, user.role);

    // Restarting an enrolment replaces its secret: only the latest one confirms.
    let first = app
        .post("/api/v1/auth/mfa/totp", Some(&user.token), &json!({}))
        .await;
    let first = str_of(first.expect(201), "secret");
    let second = app
        .post("/api/v1/auth/mfa/totp", Some(&user.token), &json!({}))
        .await;
    let second = str_of(second.expect(201), "secret");
    assert_ne!(first, second);
    let (a, b) = (code_now(&app, &first), code_now(&app, &second));
    if a != b {
        app.post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&user.token),
            &json!({"code": a}),
        )
        .await
        .expect_field_error("code");
    }
    app.post(
        "/api/v1/auth/mfa/totp/confirm",
        Some(&user.token),
        &json!({"code": b}),
    )
    .await
    .expect(200);
}

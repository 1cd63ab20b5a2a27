//! Personal data end to end: the phone number is kept sealed at rest (the raw column
//! never holds it), shown back to its holder, validated, and re-sealed by rotate-key;
//! the export of everything held about a person, without a secret; erasure.
use crate::on_both_backends;
use crate::support::{eventually, Backend, Resp, ShowSpec, TestApp, User, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const PHONE: &str = "+4915112345678";

/// The raw `users.phone_sealed` column of `user`, as the database holds it.
async fn raw_phone(app: &TestApp, user: &User) -> Option<String> {
    let sql = "SELECT phone_sealed FROM users WHERE id = ";
    match app.db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let s: Option<String> = sqlx::query_scalar(&format!("{sql}?"))
                .bind(user.id.to_string())
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            s
        }
        Backend::Postgres | Backend::Redis => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let s: Option<String> = sqlx::query_scalar(&format!("{sql}$1"))
                .bind(user.id.to_string())
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            s
        }
    }
}

async fn me(app: &TestApp, user: &User) -> Value {
    app.get("/api/v1/auth/me", Some(&user.token))
        .await
        .expect(200)
        .clone()
}

async fn set_phone(app: &TestApp, user: &User, phone: Value) -> Value {
    app.put(
        "/api/v1/auth/me",
        Some(&user.token),
        &json!({ "phone": phone }),
    )
    .await
    .expect(200)
    .clone()
}

async fn phone_round_trip_is_sealed_at_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ana = app.buyer().await;
    assert!(me(&app, &ana).await.get("phone").is_none(), "no phone yet");
    assert_eq!(raw_phone(&app, &ana).await, None);

    let r = set_phone(&app, &ana, json!(PHONE)).await;
    assert_eq!(r["phone"], PHONE);
    assert_eq!(me(&app, &ana).await["phone"], PHONE);
    let raw = raw_phone(&app, &ana).await.expect("sealed value");
    assert!(raw.starts_with("v1:"), "{raw}");
    assert!(
        !raw.contains(PHONE) && !raw.contains("15112345678"),
        "{raw}"
    );

    // Another profile change leaves the phone as it is.
    let r = app
        .put(
            "/api/v1/auth/me",
            Some(&ana.token),
            &json!({"display_name": "Ana B."}),
        )
        .await;
    assert_eq!(r.expect(200)["phone"], PHONE);
    assert_eq!(raw_phone(&app, &ana).await.as_deref(), Some(raw.as_str()));

    // Someone else's profile shows nothing of it.
    let other = app.buyer().await;
    assert!(me(&app, &other).await.get("phone").is_none());

    // `null` removes it.
    let r = set_phone(&app, &ana, Value::Null).await;
    assert!(r.get("phone").is_none(), "{r}");
    assert!(me(&app, &ana).await.get("phone").is_none());
    assert_eq!(raw_phone(&app, &ana).await, None);
    app.stop().await;
}

async fn a_bad_phone_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ana = app.buyer().await;
    set_phone(&app, &ana, json!(PHONE)).await;
    let before = me(&app, &ana).await;
    for bad in [
        json!("015112345678"),
        json!("+0151123456"),
        json!("+49 151 1234567"),
        json!("+12345"),
        json!("+1234567890123456"),
        json!(""),
    ] {
        let r = app
            .put(
                "/api/v1/auth/me",
                Some(&ana.token),
                &json!({"phone": bad, "display_name": "Changed"}),
            )
            .await;
        r.expect_field_error("phone");
    }
    let r = app
        .put(
            "/api/v1/auth/me",
            Some(&ana.token),
            &json!({"phone": 4915112345678u64}),
        )
        .await;
    assert_eq!(r.status, 422, "a number is not a phone string");
    assert_eq!(me(&app, &ana).await, before, "nothing changed");
    app.stop().await;
}

/// Runs `boxoffice admin rotate-key` against the test database.
fn rotate_key_command(app: &TestApp) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_boxoffice"))
        .args(["admin", "rotate-key"])
        .env("BOXOFFICE_DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "rotate-key failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn rotate_key_reseals_phone_numbers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ana = app.buyer().await;
    let bob = app.buyer().await;
    let none = app.buyer().await;
    set_phone(&app, &ana, json!(PHONE)).await;
    set_phone(&app, &bob, json!("+33612345678")).await;
    let before = raw_phone(&app, &ana).await.unwrap();
    assert!(before.starts_with("v1:"), "{before}");

    let out = rotate_key_command(&app);
    assert!(out.contains("2 values sealed under key v2 (new)"), "{out}");
    let after = raw_phone(&app, &ana).await.unwrap();
    assert!(after.starts_with("v2:"), "{after}");
    assert_ne!(after, before);
    assert!(raw_phone(&app, &bob).await.unwrap().starts_with("v2:"));
    assert_eq!(
        raw_phone(&app, &none).await,
        None,
        "no value, nothing sealed"
    );

    // The running server opens the re-sealed values and seals new ones under v2.
    assert_eq!(me(&app, &ana).await["phone"], PHONE);
    assert_eq!(me(&app, &bob).await["phone"], "+33612345678");
    set_phone(&app, &none, json!("+12025550123")).await;
    assert!(raw_phone(&app, &none).await.unwrap().starts_with("v2:"));
    app.stop().await;
}

on_both_backends!(
    phone_round_trip_is_sealed_at_rest,
    a_bad_phone_is_refused_and_changes_nothing,
    rotate_key_reseals_phone_numbers,
    the_export_holds_every_section_and_no_secret,
    erasure_anonymizes_the_person_and_keeps_bookings,
    the_last_owner_is_refused_and_admins_erase_others,
);

async fn the_export_holds_every_section_and_no_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let email = show.organizer.email.clone();
    // A real login: a session, a refresh token and an audit entry by this person.
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": email, "password": PASSWORD}),
        )
        .await;
    let tokens = r.expect(200).clone();
    let owner = User {
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        ..show.organizer.clone()
    };
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    set_phone(&app, &owner, json!(PHONE)).await;
    let orgs = app
        .get("/api/v1/organizations", Some(&owner.token))
        .await
        .expect(200)
        .clone();
    let org = orgs[0]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/api-keys"),
            Some(&owner.token),
            &json!({"name": "box office", "scope": "read"}),
        )
        .await;
    let key = r.expect(201).clone();
    let key_token = key["token"].as_str().unwrap().to_owned();
    // Several bookings, one of them paid.
    let mut booked = Vec::new();
    for _ in 0..3 {
        booked.push(app.hold(&owner.token, &show, 1).await);
    }
    app.confirm(&owner.token, &booked[0]).await.expect(200);
    // A pending TOTP enrolment: its secret is held, sealed, and must not leak.
    let r = app
        .post("/api/v1/auth/mfa/totp", Some(&owner.token), &json!({}))
        .await;
    let totp_secret = r.expect(201)["secret"].as_str().unwrap().to_owned();
    // Someone else's data stays out.
    let other = app.buyer().await;
    let other_booking = app.hold(&other.token, &show, 1).await;

    let export = eventually(Duration::from_secs(10), "the login audited", || async {
        let r = app.get("/api/v1/auth/me/export", Some(&owner.token)).await;
        let body = r.expect(200).clone();
        let audited = body["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "auth.login.succeeded");
        audited.then_some(r)
    })
    .await;
    assert_eq!(
        export.header("content-disposition"),
        Some(
            format!(
                "attachment; filename=\"boxoffice-export-{}.json\"",
                owner.id
            )
            .as_str()
        )
    );
    let body = &export.body;
    assert_eq!(body["profile"]["email"], email.as_str());
    assert_eq!(body["profile"]["phone"], PHONE);
    assert_eq!(body["profile"]["role"], "organizer");
    assert!(body["profile"]["created_at"].is_string());
    assert!(body["profile"]["email_verified"].is_boolean());
    assert!(!body["sessions"].as_array().unwrap().is_empty());
    assert_eq!(body["organizations"][0]["id"], org.as_str());
    assert_eq!(body["organizations"][0]["role"], "owner");
    let ids: Vec<&str> = body["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    for b in &booked {
        assert!(ids.contains(&b.as_str()), "{b} in {ids:?}");
    }
    assert!(!ids.contains(&other_booking.as_str()));
    assert_eq!(body["mfa"]["pending"], true);
    assert_eq!(body["mfa"]["enabled"], false);
    assert_eq!(body["api_keys"][0]["id"], key["key"]["id"]);
    assert!(!body["audit"].as_array().unwrap().is_empty());
    assert!(body["audit"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor_id"] == owner.id.to_string()));

    let text = &export.text;
    for secret in [
        totp_secret.as_str(),
        refresh.as_str(),
        owner.token.as_str(),
        key_token.as_str(),
        PASSWORD,
        "$argon2",
        "password_hash",
    ] {
        assert!(!text.contains(secret), "the export holds {secret}");
    }
    assert!(!text.contains(&other.email));

    // API keys and the anonymous cannot export.
    app.get("/api/v1/auth/me/export", Some(&key_token))
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.get("/api/v1/auth/me/export", None)
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.stop().await;
}

async fn erase_me(app: &TestApp, token: &str, password: &str) -> Resp {
    app.send(
        Method::DELETE,
        "/api/v1/auth/me",
        Some(token),
        Some(&json!({ "password": password })),
    )
    .await
}

async fn erasure_anonymizes_the_person_and_keeps_bookings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": buyer.email, "password": PASSWORD}),
        )
        .await;
    let tokens = r.expect(200).clone();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let ana = User {
        token: token.clone(),
        ..buyer.clone()
    };
    set_phone(&app, &ana, json!(PHONE)).await;
    let paid = app.hold(&token, &show, 2).await;
    app.confirm(&token, &paid).await.expect(200);
    let held = app.hold(&token, &show, 1).await;
    let sales_before = app.sales(&show).await;

    // The wrong password changes nothing.
    erase_me(&app, &token, "not the password")
        .await
        .expect_field_error("password");
    assert_eq!(me(&app, &ana).await["email"], buyer.email.as_str());

    erase_me(&app, &token, PASSWORD).await.expect(204);

    let record = app.state.store.user(buyer.id).await.unwrap();
    assert_eq!(
        record.email.as_str(),
        format!("erased-{}@erased.invalid", buyer.id)
    );
    assert_eq!(record.display_name, "Erased account");
    assert!(record.email_verified_at.is_none());
    assert_eq!(raw_phone(&app, &ana).await, None);
    // Bookings stay with the account id, and the sales figures do not move.
    for id in [&paid, &held] {
        let b = app.state.store.booking(id.parse().unwrap()).await.unwrap();
        assert_eq!(b.user_id, buyer.id);
    }
    assert_eq!(app.sales(&show).await, sales_before);
    // Sessions are gone: the refresh token is refused, the old login fails.
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh}),
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    app.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": buyer.email, "password": PASSWORD}),
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    // The email is free again.
    app.post(
        "/api/v1/auth/register",
        None,
        &json!({"email": buyer.email, "password": PASSWORD, "display_name": "Ana Again"}),
    )
    .await
    .expect(201);
    // The erasure is audited, naming no personal data.
    let admin = app.admin().await;
    let entries = app.audit_entries(&admin.token, "account.erased").await;
    assert_eq!(entries[0]["target_id"], buyer.id.to_string());
    assert!(!serde_json::to_string(&entries)
        .unwrap()
        .contains(&buyer.email));
    app.stop().await;
}

async fn the_last_owner_is_refused_and_admins_erase_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.organizer().await;
    erase_me(&app, &owner.token, PASSWORD)
        .await
        .expect_problem(409, "/problems/last-owner");
    let still = app.state.store.user(owner.id).await.unwrap();
    assert_eq!(still.email.as_str(), owner.email);

    let admin = app.admin().await;
    let buyer = app.buyer().await;
    let path = format!("/api/v1/admin/users/{}", buyer.id);
    app.delete(&path, Some(&owner.token))
        .await
        .expect_problem(403, "/problems/forbidden");
    app.delete(&path, Some(&admin.token)).await.expect(204);
    let record = app.state.store.user(buyer.id).await.unwrap();
    assert_eq!(record.display_name, "Erased account");
    app.delete(
        &format!("/api/v1/admin/users/{}", uuid::Uuid::now_v7()),
        Some(&admin.token),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    // The admin can erase the last owner's account only once it is not the last.
    app.delete(
        &format!("/api/v1/admin/users/{}", owner.id),
        Some(&admin.token),
    )
    .await
    .expect_problem(409, "/problems/last-owner");
    app.stop().await;
}

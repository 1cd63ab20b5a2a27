//! Registration, login, refresh rotation, logout, profile and access-token checks.
use crate::on_both_backends;
use crate::support::{Backend, Resp, TestApp, PASSWORD};
use base64::Engine;
use boxoffice::accounts::TokenIssuer;
use boxoffice_domain::account::Role;
use serde_json::{json, Value};

fn register_body(email: &str, password: &str, role: Option<&str>) -> Value {
    let mut body = json!({"email": email, "password": password, "display_name": "Ana Lopes"});
    if let Some(r) = role {
        body["role"] = json!(r);
    }
    body
}

async fn register(app: &TestApp, email: &str, role: Option<&str>) -> Resp {
    app.post(
        "/api/v1/auth/register",
        None,
        &register_body(email, PASSWORD, role),
    )
    .await
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

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[tokio::test]
async fn register_buyer_and_organizer_but_never_admin() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    let r = register(&app, "ana@example.com", None).await;
    let body = r.expect(201);
    assert_eq!(body["user"]["role"], "buyer");
    assert_eq!(body["user"]["email"], "ana@example.com");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let me = app
        .get("/api/v1/auth/me", Some(str_of(body, "access_token")))
        .await;
    assert_eq!(me.expect(200)["email"], "ana@example.com");

    let r = register(&app, "olga@example.com", Some("organizer")).await;
    assert_eq!(r.expect(201)["user"]["role"], "organizer");

    let r = register(&app, "mallory@example.com", Some("admin")).await;
    r.expect_field_error("role");
    let r = login(&app, "mallory@example.com", PASSWORD).await;
    r.expect(401);
}

#[tokio::test]
async fn registration_rejects_duplicates_and_weak_passwords() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    register(&app, "ana@example.com", None).await.expect(201);

    // Emails are compared normalised.
    let r = register(&app, " ANA@Example.com ", None).await;
    r.expect_field_error("email");

    for weak in ["short", "aaaaaaaaaaaaaa"] {
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                &register_body("bruno@example.com", weak, None),
            )
            .await;
        r.expect_field_error("password");
    }
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            &register_body("not-an-email", PASSWORD, None),
        )
        .await;
    r.expect_field_error("email");
    // Nothing was created by the refused attempts.
    login(&app, "bruno@example.com", "short").await.expect(401);
    assert_eq!(app.state.store.count_users().await.unwrap(), 1);
}

#[tokio::test]
async fn login_failures_do_not_reveal_which_emails_exist() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    register(&app, "ana@example.com", None).await.expect(201);

    let ok = login(&app, "Ana@Example.com", PASSWORD).await;
    assert!(ok.expect(200)["access_token"].as_str().is_some());

    let wrong = login(&app, "ana@example.com", "not the password").await;
    wrong.expect_problem(401, "/problems/unauthorized");
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    unknown.expect_problem(401, "/problems/unauthorized");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    assert_eq!(wrong.body["title"], unknown.body["title"]);
}

async fn refresh_rotation_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = register(&app, "ana@example.com", None).await;
    let r1 = str_of(first.expect(201), "refresh_token").to_owned();

    let second = refresh(&app, &r1).await;
    let body = second.expect(200);
    let r2 = str_of(body, "refresh_token").to_owned();
    assert_ne!(r1, r2);
    let me = app
        .get("/api/v1/auth/me", Some(str_of(body, "access_token")))
        .await;
    assert_eq!(me.expect(200)["email"], "ana@example.com");

    // Somebody replays the spent token: refused, and the whole login is revoked.
    refresh(&app, &r1)
        .await
        .expect_problem(401, "/problems/unauthorized");
    refresh(&app, &r2)
        .await
        .expect_problem(401, "/problems/unauthorized");

    // Another login is a separate family and unaffected.
    let other = login(&app, "ana@example.com", PASSWORD).await;
    let r3 = str_of(other.expect(200), "refresh_token").to_owned();
    refresh(&app, &r3).await.expect(200);
    refresh(&app, "never-issued")
        .await
        .expect_problem(401, "/problems/unauthorized");
}

async fn logout_revokes_the_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = register(&app, "ana@example.com", None).await;
    let r1 = str_of(first.expect(201), "refresh_token").to_owned();
    let rotated = refresh(&app, &r1).await;
    let r2 = str_of(rotated.expect(200), "refresh_token").to_owned();

    let out = app
        .post(
            "/api/v1/auth/logout",
            None,
            &json!({"refresh_token": r2.clone()}),
        )
        .await;
    out.expect(204);
    refresh(&app, &r2)
        .await
        .expect_problem(401, "/problems/unauthorized");
}

/// The largest batch an admin may provision binds more values than one PostgreSQL
/// statement can carry: it is split, not refused with a 500.
async fn the_largest_bulk_provisioning_is_stored_whole(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let count = boxoffice_domain::account::MAX_BULK_ACCOUNTS;
    let buyers = app.bulk_buyers(&admin, count).await;
    assert_eq!(buyers.len() as u32, count);
    let stored = app.state.store.count_users().await.expect("a count");
    assert_eq!(stored, i64::from(count) + 1, "every buyer and the admin");
    let (_, token) = buyers.last().expect("a buyer");
    app.get("/api/v1/auth/me", Some(token)).await.expect(200);
}

on_both_backends!(
    refresh_rotation_and_reuse_revokes_the_family,
    logout_revokes_the_refresh_token,
    the_largest_bulk_provisioning_is_stored_whole,
);

#[tokio::test]
async fn profile_changes_and_password_change_needs_the_current_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let reg = register(&app, "ana@example.com", None).await;
    let token = str_of(reg.expect(201), "access_token").to_owned();

    let r = app
        .put(
            "/api/v1/auth/me",
            Some(&token),
            &json!({"display_name": "Ana Maria"}),
        )
        .await;
    assert_eq!(r.expect(200)["display_name"], "Ana Maria");
    let me = app.get("/api/v1/auth/me", Some(&token)).await;
    assert_eq!(me.expect(200)["display_name"], "Ana Maria");

    let new_password = "a much better passphrase";
    let r = app
        .put(
            "/api/v1/auth/me",
            Some(&token),
            &json!({"password": new_password}),
        )
        .await;
    r.expect_field_error("current_password");
    let r = app
        .put(
            "/api/v1/auth/me",
            Some(&token),
            &json!({"password": new_password, "current_password": "wrong guess at it"}),
        )
        .await;
    r.expect_field_error("current_password");
    // Both refusals left the password as it was.
    login(&app, "ana@example.com", PASSWORD).await.expect(200);

    let r = app
        .put(
            "/api/v1/auth/me",
            Some(&token),
            &json!({"password": new_password, "current_password": PASSWORD}),
        )
        .await;
    r.expect(200);
    login(&app, "ana@example.com", PASSWORD).await.expect(401);
    login(&app, "ana@example.com", new_password)
        .await
        .expect(200);
}

#[tokio::test]
async fn access_tokens_expire_and_forgeries_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let buyer = app.buyer().await;
    app.get("/api/v1/auth/me", Some(&buyer.token))
        .await
        .expect(200);

    // Signed with another key.
    let foreign = TokenIssuer::new(b"another-secret-another-secret-000")
        .issue(buyer.id, Role::Admin, app.state.accounts.now())
        .unwrap()
        .0;
    // Our token with its payload swapped for an admin one, signature kept.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = buyer.token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["role"], "buyer");
    claims["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );
    // Unsigned.
    let unsigned = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    for bad in [foreign.as_str(), &tampered, &unsigned, "not-a-token"] {
        let r = app.get("/api/v1/auth/me", Some(bad)).await;
        r.expect_problem(401, "/problems/unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    app.get("/api/v1/auth/me", None)
        .await
        .expect_problem(401, "/problems/unauthorized");

    // The token was fine until 15 minutes passed.
    app.get("/api/v1/auth/me", Some(&buyer.token))
        .await
        .expect(200);
    app.clock.advance_secs(16 * 60);
    let r = app.get("/api/v1/auth/me", Some(&buyer.token)).await;
    r.expect_problem(401, "/problems/unauthorized");
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
    let fresh = app.token_for(&buyer);
    app.get("/api/v1/auth/me", Some(&fresh)).await.expect(200);
}

//! Admins find accounts and change their platform role: the search filters and pages,
//! a new role ends the account's sessions and applies at the next sign-in, and
//! nobody but an admin (never on their own account) changes one.
use crate::on_both_backends;
use crate::support::{Backend, TestApp, PASSWORD};
use serde_json::{json, Value};

fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_owned())
        .collect()
}

async fn accounts_are_found_by_words_and_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let buyer = app.buyer().await;
    let organizer = app.organizer().await;

    let all = app
        .get("/api/v1/admin/users?per_page=100", Some(&admin.token))
        .await;
    let all = all.expect(200);
    assert_eq!(all["total"], 3);
    let found = emails(all);
    for who in [&admin, &buyer, &organizer] {
        assert!(
            found.contains(&who.email),
            "{} listed in {found:?}",
            who.email
        );
    }

    // Part of the email, any case; wildcards are taken literally.
    let needle = &buyer.email[6..20].to_uppercase();
    let r = app
        .get(
            &format!("/api/v1/admin/users?q={needle}"),
            Some(&admin.token),
        )
        .await;
    assert_eq!(emails(r.expect(200)), vec![buyer.email.clone()]);
    let r = app
        .get("/api/v1/admin/users?q=%25", Some(&admin.token))
        .await;
    assert_eq!(r.expect(200)["total"], 0, "% is not a wildcard");

    let r = app
        .get("/api/v1/admin/users?role=organizer", Some(&admin.token))
        .await;
    assert_eq!(emails(r.expect(200)), vec![organizer.email.clone()]);

    // Pages: newest first, two per page.
    let first = app
        .get("/api/v1/admin/users?per_page=2", Some(&admin.token))
        .await;
    let second = app
        .get("/api/v1/admin/users?per_page=2&page=2", Some(&admin.token))
        .await;
    let (first, second) = (emails(first.expect(200)), emails(second.expect(200)));
    assert_eq!(first.len(), 2);
    assert_eq!(second.len(), 1);
    assert!(!first.contains(&second[0]));

    // Bad filters name the parameter; nobody else lists accounts.
    app.get("/api/v1/admin/users?role=superuser", Some(&admin.token))
        .await
        .expect_field_error("role");
    app.get("/api/v1/admin/users?q=", Some(&admin.token))
        .await
        .expect_field_error("q");
    app.get("/api/v1/admin/users", Some(&organizer.token))
        .await
        .expect_problem(403, "/problems/forbidden");
    app.get("/api/v1/admin/users", None)
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.stop().await;
}

async fn a_new_role_ends_the_sessions_and_applies_at_the_next_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let buyer = app.buyer().await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": buyer.email, "password": PASSWORD}),
        )
        .await;
    let refresh = login.expect(200)["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let r = app
        .put(
            &format!("/api/v1/admin/users/{}/role", buyer.id),
            Some(&admin.token),
            &json!({"role": "organizer"}),
        )
        .await;
    assert_eq!(r.expect(200)["role"], "organizer");
    let r = app
        .get(
            &format!("/api/v1/admin/users/{}", buyer.id),
            Some(&admin.token),
        )
        .await;
    assert_eq!(r.expect(200)["role"], "organizer");

    // The old session is over; a new sign-in carries the new role.
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh}),
    )
    .await
    .expect_problem(401, "/problems/unauthorized");
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": buyer.email, "password": PASSWORD}),
        )
        .await;
    let body = login.expect(200);
    assert_eq!(body["user"]["role"], "organizer");
    let token = body["access_token"].as_str().expect("token");
    let me = app.get("/api/v1/auth/me", Some(token)).await;
    assert_eq!(me.expect(200)["role"], "organizer");

    // Audited with the roles before and after.
    let entries = app
        .audit_entries(&admin.token, "account.role.changed")
        .await;
    assert_eq!(entries[0]["target_id"], buyer.id.to_string());
    assert_eq!(entries[0]["actor_id"], admin.id.to_string());
    assert_eq!(
        entries[0]["detail"],
        json!({"from": "buyer", "role": "organizer"})
    );
    app.stop().await;
}

async fn only_admins_change_roles_and_never_their_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let organizer = app.organizer().await;
    let buyer = app.buyer().await;
    let path = |id: &dyn std::fmt::Display| format!("/api/v1/admin/users/{id}/role");

    // An organizer cannot make themselves or anyone an admin.
    for target in [&organizer, &buyer] {
        app.put(
            &path(&target.id),
            Some(&organizer.token),
            &json!({"role": "admin"}),
        )
        .await
        .expect_problem(403, "/problems/forbidden");
    }
    let (server, token) = (&app, admin.token.as_str());
    let set = |who: String, role: Value| {
        let path = path(&who);
        async move { server.put(&path, Some(token), &json!({"role": role})).await }
    };
    set(admin.id.to_string(), json!("buyer"))
        .await
        .expect_field_error("role");
    set(buyer.id.to_string(), json!("root"))
        .await
        .expect_field_error("role");
    set(uuid::Uuid::now_v7().to_string(), json!("buyer"))
        .await
        .expect_problem(404, "/problems/not-found");
    app.put(
        &path(&buyer.id),
        Some(&admin.token),
        &json!({"role": "buyer", "x": 1}),
    )
    .await
    .expect(422);

    // Nothing changed.
    for (who, role) in [
        (&admin, "admin"),
        (&organizer, "organizer"),
        (&buyer, "buyer"),
    ] {
        let r = app
            .get(
                &format!("/api/v1/admin/users/{}", who.id),
                Some(&admin.token),
            )
            .await;
        assert_eq!(r.expect(200)["role"], role);
    }
    app.stop().await;
}

on_both_backends!(
    accounts_are_found_by_words_and_role,
    a_new_role_ends_the_sessions_and_applies_at_the_next_sign_in,
    only_admins_change_roles_and_never_their_own,
);

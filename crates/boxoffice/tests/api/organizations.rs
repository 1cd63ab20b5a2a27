//! Organizations: ownership of events by tenants, member roles and what each may do,
//! the last owner, invitations, API keys, and the migration of existing organizers.
use crate::on_both_backends;
use crate::support::{Backend, ShowSpec, TestApp, User};
use boxoffice::accounts::Principal;
use boxoffice::store::SqlStore;
use boxoffice_domain::account::Role;
use serde_json::{json, Value};

fn event_body(title: &str) -> Value {
    json!({"title": title, "category": "concert", "city": "Lyon"})
}

on_both_backends!(organizers_publish_into_their_organization);
async fn organizers_publish_into_their_organization(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let registered = app
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "olga@example.com", "password": crate::support::PASSWORD,
                    "display_name": "Olga Events", "role": "organizer"}),
        )
        .await;
    let token = registered.expect(201)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine = app.get("/api/v1/organizations", Some(&token)).await;
    let orgs = mine.expect(200).as_array().unwrap().clone();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["name"], "Olga Events");
    assert_eq!(orgs[0]["role"], "owner");
    let event = app.create_event(&token, &event_body("Jazz")).await;
    assert_eq!(event["organization_id"], orgs[0]["id"]);

    // A second organization makes the choice explicit.
    let second = app
        .post(
            "/api/v1/organizations",
            Some(&token),
            &json!({"name": "Olga Tours"}),
        )
        .await;
    let second_id = second.expect(201)["id"].as_str().unwrap().to_owned();
    app.post("/api/v1/events", Some(&token), &event_body("Rock"))
        .await
        .expect_field_error("organization_id");
    let mut body = event_body("Rock");
    body["organization_id"] = json!(second_id);
    let rock = app.create_event(&token, &body).await;
    assert_eq!(rock["organization_id"], second_id);
    // It cannot move to another organization afterwards.
    body["organization_id"] = orgs[0]["id"].clone();
    app.put(
        &format!("/api/v1/events/{}", rock["id"].as_str().unwrap()),
        Some(&token),
        &body,
    )
    .await
    .expect_field_error("organization_id");

    // Buyers neither create organizations nor publish; another organizer's
    // organization is not a place to publish in.
    let buyer = app.buyer().await;
    app.post(
        "/api/v1/organizations",
        Some(&buyer.token),
        &json!({"name": "Nope"}),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    // Admins publish on behalf of an organization they name.
    let admin = app.admin().await;
    app.post("/api/v1/events", Some(&admin.token), &event_body("Admin"))
        .await
        .expect_field_error("organization_id");
    let other = app.organizer().await;
    let r = app.post("/api/v1/events", Some(&other.token), &body).await;
    r.expect_problem(403, "/problems/forbidden");
    app.stop().await;
}

on_both_backends!(roles_decide_what_members_do);
async fn roles_decide_what_members_do(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let owner = show.organizer.clone();
    let owner = User {
        token: app.token_for(&owner),
        ..owner
    };
    let org = app.org_of(&owner).await;
    let manager = app.buyer().await;
    let door = app.buyer().await;
    app.join(&owner, &org, &manager, "manager").await;
    app.join(&owner, &org, &door, "box_office").await;
    let sales = format!("/api/v1/shows/{}/sales", show.show_id);
    let members = format!("/api/v1/organizations/{org}/members");

    // Box office: sales and members, nothing else.
    app.get(&sales, Some(&door.token)).await.expect(200);
    app.get(&members, Some(&door.token)).await.expect(200);
    let mut body = event_body("Door staff event");
    body["organization_id"] = json!(org);
    app.post("/api/v1/events", Some(&door.token), &body)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.delete(
        &format!("/api/v1/shows/{}", show.show_id),
        Some(&door.token),
    )
    .await
    .expect_problem(403, "/problems/forbidden");

    // Manager: the catalog, but not the team.
    app.create_event(&manager.token, &body).await;
    app.put(
        &format!("{members}/{}", door.id),
        Some(&manager.token),
        &json!({"role": "manager"}),
    )
    .await
    .expect_problem(403, "/problems/forbidden");

    // Owner: the team. The last owner can neither leave nor step down.
    let me = format!("{members}/{}", owner.id);
    app.delete(&me, Some(&owner.token))
        .await
        .expect_problem(409, "/problems/last-owner");
    app.put(&me, Some(&owner.token), &json!({"role": "manager"}))
        .await
        .expect_problem(409, "/problems/last-owner");
    let promoted = app
        .put(
            &format!("{members}/{}", manager.id),
            Some(&owner.token),
            &json!({"role": "owner"}),
        )
        .await;
    assert_eq!(promoted.expect(200)["role"], "owner");
    app.put(&me, Some(&owner.token), &json!({"role": "manager"}))
        .await
        .expect(200);
    // A member leaves on their own; a removed member loses access at once.
    app.delete(&format!("{members}/{}", door.id), Some(&door.token))
        .await
        .expect(204);
    app.get(&sales, Some(&door.token))
        .await
        .expect_problem(403, "/problems/forbidden");
    let list = app.get(&members, Some(&manager.token)).await;
    let roles: Vec<(String, String)> = list
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            (owner.id.to_string(), "manager".to_owned()),
            (manager.id.to_string(), "owner".to_owned())
        ]
    );
    app.stop().await;
}

on_both_backends!(two_owners_stepping_down_at_once_leave_one);
async fn two_owners_stepping_down_at_once_leave_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.organizer().await;
    let org = app.org_of(&a).await;
    let b = app.buyer().await;
    app.join(&a, &org, &b, "owner").await;
    for _ in 0..5 {
        let (path_a, path_b) = (
            format!("/api/v1/organizations/{org}/members/{}", a.id),
            format!("/api/v1/organizations/{org}/members/{}", b.id),
        );
        let step_down = json!({"role": "manager"});
        let (ra, rb) = tokio::join!(
            app.put(&path_a, Some(&a.token), &step_down),
            app.put(&path_b, Some(&b.token), &step_down),
        );
        let statuses = [ra.status.as_u16(), rb.status.as_u16()];
        let owners: Vec<Value> = app
            .state
            .organizations
            .members(Principal::user(a.id, Role::Admin), org.parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.role == "owner")
            .map(|m| json!(m.user_id))
            .collect();
        assert_eq!(owners.len(), 1, "statuses {statuses:?}");
        let mut sorted = statuses;
        sorted.sort();
        assert_eq!(sorted, [200, 409]);
        // Restore two owners for the next round.
        let (stayed, stepped) = if owners[0] == json!(a.id) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        app.put(
            &format!("/api/v1/organizations/{org}/members/{}", stepped.id),
            Some(&stayed.token),
            &json!({"role": "owner"}),
        )
        .await
        .expect(200);
    }
    app.stop().await;
}

on_both_backends!(invitations_are_for_their_addressee_once);
async fn invitations_are_for_their_addressee_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.organizer().await;
    let org = app.org_of(&owner).await;
    let invitee = app.buyer().await;
    let stranger = app.buyer().await;
    let invitation = app
        .state
        .organizations
        .invite(
            Principal::user(owner.id, owner.role),
            org.parse().unwrap(),
            &invitee.email,
            "box_office",
        )
        .await
        .unwrap();
    let listed = app
        .get(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(&owner.token),
        )
        .await;
    assert_eq!(listed.expect(200).as_array().unwrap().len(), 1);
    assert!(
        !listed.text.contains(&invitation.token),
        "tokens are never listed"
    );
    let accept = |user: &User| {
        let token = user.token.clone();
        let body = json!({"token": invitation.token});
        let app = &app;
        async move {
            app.post("/api/v1/invitations/accept", Some(&token), &body)
                .await
        }
    };
    accept(&stranger)
        .await
        .expect_problem(403, "/problems/forbidden");
    accept(&invitee).await.expect(200);
    accept(&invitee)
        .await
        .expect_problem(404, "/problems/not-found");
    app.post(
        "/api/v1/invitations/accept",
        Some(&invitee.token),
        &json!({"token": "forged"}),
    )
    .await
    .expect_problem(404, "/problems/not-found");

    // Revoked and expired invitations are spent.
    let revoked = app
        .post(
            &format!("/api/v1/organizations/{org}/invitations"),
            Some(&owner.token),
            &json!({"email": stranger.email, "role": "manager"}),
        )
        .await;
    let id = revoked.expect(201)["id"].as_str().unwrap().to_owned();
    app.delete(
        &format!("/api/v1/organizations/{org}/invitations/{id}"),
        Some(&owner.token),
    )
    .await
    .expect(204);
    app.delete(
        &format!("/api/v1/organizations/{org}/invitations/{id}"),
        Some(&owner.token),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    let late = app
        .state
        .organizations
        .invite(
            Principal::user(owner.id, owner.role),
            org.parse().unwrap(),
            &stranger.email,
            "manager",
        )
        .await
        .unwrap();
    app.clock.advance_secs(73 * 3600);
    let token = app.token_for(&stranger);
    app.post(
        "/api/v1/invitations/accept",
        Some(&token),
        &json!({"token": late.token}),
    )
    .await
    .expect_problem(404, "/problems/not-found");
    app.stop().await;
}

on_both_backends!(api_keys_act_for_their_organization_within_scope);
async fn api_keys_act_for_their_organization_within_scope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let show = app.show_with(ShowSpec::default()).await;
    let owner = User {
        token: app.token_for(&show.organizer),
        ..show.organizer.clone()
    };
    let org = app.org_of(&owner).await;
    let keys = format!("/api/v1/organizations/{org}/api-keys");
    let create = |scope: &'static str, days: Option<i64>| {
        let token = owner.token.clone();
        let keys = keys.clone();
        let app = &app;
        async move {
            let r = app
                .post(&keys, Some(&token), &json!({"name": format!("{scope} key"), "scope": scope, "expires_in_days": days}))
                .await;
            r.expect(201)["token"].as_str().unwrap().to_owned()
        }
    };
    let read = create("read", None).await;
    let write = create("write", Some(30)).await;
    let sales = format!("/api/v1/shows/{}/sales", show.show_id);

    app.get(&sales, Some(&read)).await.expect(200);
    let mut body = event_body("Key event");
    app.post("/api/v1/events", Some(&read), &body)
        .await
        .expect_problem(403, "/problems/forbidden");
    let created = app.create_event(&write, &body).await;
    assert_eq!(created["organization_id"], org);
    // Keys never manage keys or members, and are not buyers.
    app.post(
        &keys,
        Some(&write),
        &json!({"name": "more", "scope": "write"}),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    app.get("/api/v1/bookings", Some(&write))
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.reserve(&write, &show, 1)
        .await
        .expect_problem(401, "/problems/unauthorized");

    // Another organization's key does nothing here.
    let other = app.organizer().await;
    let other_org = app.org_of(&other).await;
    let foreign = app
        .post(
            &format!("/api/v1/organizations/{other_org}/api-keys"),
            Some(&other.token),
            &json!({"name": "theirs", "scope": "write"}),
        )
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&sales, Some(&foreign))
        .await
        .expect_problem(403, "/problems/forbidden");
    body["organization_id"] = json!(org);
    app.post("/api/v1/events", Some(&foreign), &body)
        .await
        .expect_problem(403, "/problems/forbidden");

    // The list shows use, never secrets; revoked and expired keys stop at once.
    let listed = app.get(&keys, Some(&owner.token)).await;
    let items = listed.expect(200).as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(!listed.text.contains(&read) && !listed.text.contains(&write));
    assert!(
        items.iter().all(|k| !k["last_used_at"].is_null()),
        "{items:?}"
    );
    let read_id = items.iter().find(|k| k["scope"] == "read").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("{keys}/{read_id}"), Some(&owner.token))
        .await
        .expect(204);
    app.get(&sales, Some(&read))
        .await
        .expect_problem(401, "/problems/unauthorized");
    let tampered = format!("{}x", &write[..write.len() - 1]);
    app.get(&sales, Some(&tampered))
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.clock.advance_secs(31 * 24 * 3600);
    app.get(&sales, Some(&write))
        .await
        .expect_problem(401, "/problems/unauthorized");
    app.stop().await;
}

on_both_backends!(existing_organizers_get_an_organization_on_upgrade);
async fn existing_organizers_get_an_organization_on_upgrade(backend: Backend) {
    let db = crate::support::TestDb::create(backend).await;
    let store = SqlStore::connect(&db.url, 2, Default::default())
        .await
        .unwrap();
    // The schema as it was before organizations, with an organizer and an event.
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres | Backend::Redis => "migrations/postgres",
    };
    let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(folder))
        .await
        .unwrap();
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version == 1)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    before.run(&pool).await.unwrap();
    for statement in [
        "INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at) \
         VALUES ('0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77', 'olga@example.com', 'x', 'Olga', 'organizer', 0, 0)",
        "INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at) \
         VALUES ('0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e79', 'ana@example.com', 'x', 'Ana', 'buyer', 0, 0)",
        "INSERT INTO events (id, organizer_id, title, description, category, city, created_at, updated_at) \
         VALUES ('0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e78', '0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77', 'Old', '', 'concert', 'Lyon', 0, 0)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    store.migrate().await.unwrap();
    use boxoffice::store::{CatalogStore, OrganizationStore};
    let user: boxoffice_domain::UserId = "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77".parse().unwrap();
    let orgs = store.organizations_of(user).await.unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].0.name, "Olga");
    assert_eq!(orgs[0].1, boxoffice_domain::organization::MemberRole::Owner);
    let event = store
        .event("0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e78".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(event.organization_id, orgs[0].0.id);
    let buyer: boxoffice_domain::UserId = "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e79".parse().unwrap();
    assert!(store.organizations_of(buyer).await.unwrap().is_empty());
    store.close().await;
}

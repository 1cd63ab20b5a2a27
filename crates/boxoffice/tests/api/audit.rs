//! The audit log end to end: what each action records (actor, target, client address,
//! user agent, request id, never a secret), booking transitions projected from the
//! outbox exactly once across restarts, filters and cursor pages, and append-only storage.
use crate::on_both_backends;
use crate::support::{eventually, Backend, ShowSpec, TestApp, TestDb, PASSWORD};
use boxoffice::audit::{Action, Actor, AuditEntry, AuditLog, Target};
use boxoffice::store::{AuditFilter, AuditRecord, AuditStore, ConsumerOffsetStore, SqlStore};
use boxoffice_domain::audit::{ActionFilter, ActorType};
use boxoffice_domain::{OrganizationId, Timestamp, UserId};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// One page of the audit log as an admin reads it.
async fn page(app: &TestApp, admin: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/admin/audit?{query}"), Some(admin))
        .await;
    r.expect(200).clone()
}

/// The entries matching `query` once there are at least `n` of them.
async fn entries(app: &TestApp, admin: &str, query: &str, n: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{n} audit entries for {query}"), || async {
        let items = page(app, admin, query).await["items"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (items.len() >= n).then_some(items)
    })
    .await
}

fn actions(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(|e| e["action"].as_str()).collect()
}

/// A request with the headers a client behind our proxy sends.
async fn from_client(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
    request_id: &str,
) -> crate::support::Resp {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("x-forwarded-for", "198.51.100.20, 203.0.113.9")
        .header("user-agent", "audit-test/1.0")
        .header("x-request-id", request_id)
        .json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    crate::support::read(req.send().await.expect("answered")).await
}

async fn account_actions_are_recorded_with_their_origin(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.trusted_proxy_header = Some("x-forwarded-for".into())
    })
    .await;
    let admin = app.admin().await;
    let email = format!("audited-{}@example.com", uuid::Uuid::new_v4().simple());
    let registered = from_client(
        &app,
        Method::POST,
        "/api/v1/auth/register",
        None,
        &json!({"email": email, "password": PASSWORD, "display_name": "Audited"}),
        "req-register",
    )
    .await;
    let user_id = registered.expect(201)["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let wrong = "wrong horse battery staple 42";
    from_client(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": wrong}),
        "req-login-failed",
    )
    .await
    .expect(401);
    from_client(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        None,
        &json!({"email": "nobody-here@example.com", "password": wrong}),
        "req-login-unknown",
    )
    .await
    .expect(401);
    let login = from_client(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": PASSWORD}),
        "req-login",
    )
    .await;
    let tokens = login.expect(200).clone();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Rotating, then presenting the spent token again: reuse.
    let rotated = from_client(
        &app,
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh}),
        "req-refresh",
    )
    .await;
    let refresh2 = rotated.expect(200)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    from_client(
        &app,
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh}),
        "req-reuse",
    )
    .await
    .expect(401);

    let new_email = format!("moved-{}@example.com", uuid::Uuid::new_v4().simple());
    let new_password = "a completely different passphrase";
    from_client(
        &app,
        Method::PUT,
        "/api/v1/auth/me",
        Some(&access),
        &json!({"email": new_email, "password": new_password, "current_password": PASSWORD}),
        "req-profile",
    )
    .await
    .expect(200);
    from_client(
        &app,
        Method::POST,
        "/api/v1/auth/logout",
        None,
        &json!({"refresh_token": refresh2}),
        "req-logout",
    )
    .await;
    from_client(
        &app,
        Method::POST,
        "/api/v1/admin/users/bulk",
        Some(&admin.token),
        &json!({"count": 3, "prefix": "audit", "password": PASSWORD}),
        "req-bulk",
    )
    .await
    .expect(201);

    let about_user = entries(&app, &admin.token, &format!("target={user_id}"), 7).await;
    let mut seen = actions(&about_user);
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "account.email.changed",
            "account.password.changed",
            "account.registered",
            "auth.login.failed",
            "auth.login.succeeded",
            "auth.logout",
            "auth.refresh.reuse_detected",
        ],
        "{about_user:#?}"
    );
    let by_request = |id: &str| {
        about_user
            .iter()
            .find(|e| e["request_id"] == id)
            .unwrap_or_else(|| panic!("an entry of {id}: {about_user:#?}"))
            .clone()
    };
    for e in &about_user {
        // The address our proxy appended, never the one the caller claimed.
        assert_eq!(e["ip"], "203.0.113.9", "{e}");
        assert_eq!(e["user_agent"], "audit-test/1.0", "{e}");
        assert_eq!(e["target_type"], "user", "{e}");
        assert!(e["at"].as_str().is_some_and(|a| a.ends_with('Z')), "{e}");
    }
    let success = by_request("req-login");
    assert_eq!(success["action"], "auth.login.succeeded");
    assert_eq!(success["actor_type"], "user");
    assert_eq!(success["actor_id"], user_id.as_str());
    let failed = by_request("req-login-failed");
    assert_eq!(failed["action"], "auth.login.failed");
    assert_eq!(failed["actor_type"], "anonymous");
    assert_eq!(failed["actor_id"], Value::Null);
    assert_eq!(failed["detail"]["reason"], "wrong_password");
    assert_eq!(
        by_request("req-reuse")["action"],
        "auth.refresh.reuse_detected"
    );
    assert_eq!(by_request("req-logout")["actor_id"], user_id.as_str());

    let unknown = entries(&app, &admin.token, "action=auth.login.failed", 2).await;
    let unknown = unknown
        .iter()
        .find(|e| e["request_id"] == "req-login-unknown")
        .expect("the failure for an unknown email is recorded");
    assert_eq!(unknown["target_id"], Value::Null);
    assert_eq!(unknown["detail"]["reason"], "unknown_account");

    let bulk = entries(&app, &admin.token, "action=account.bulk_created", 1).await;
    assert_eq!(bulk[0]["actor_id"], admin.id.to_string());
    assert_eq!(bulk[0]["detail"]["count"], 3);
    assert_eq!(bulk[0]["request_id"], "req-bulk");

    // No secret or personal data anywhere in any row, as stored.
    let everything = app
        .state
        .store
        .audit_entries(&AuditFilter::default(), 1_000)
        .await
        .unwrap();
    assert!(everything.len() >= 9);
    let stored = format!("{everything:?}");
    for secret in [
        wrong,
        PASSWORD,
        new_password,
        email.as_str(),
        new_email.as_str(),
        "nobody-here@example.com",
        access.as_str(),
        refresh.as_str(),
        refresh2.as_str(),
    ] {
        assert!(!stored.contains(secret), "the audit log holds {secret:?}");
    }
    app.stop().await;
}

async fn catalog_changes_are_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let show = app.show_with(ShowSpec::default()).await;
    let token = &show.organizer.token;
    let event_path = format!("/api/v1/events/{}", show.event_id);
    app.put(
        &event_path,
        Some(token),
        &json!({"title": "Renamed", "category": "concert", "city": "Lyon"}),
    )
    .await
    .expect(200);
    let organization = app.get(&event_path, None).await.expect(200)["organization_id"]
        .as_str()
        .expect("events belong to an organization")
        .to_owned();
    let zones = format!("/api/v1/shows/{}/zones", show.show_id);
    let zone = app
        .post(
            &zones,
            Some(token),
            &json!({"name": "Balcony", "price_minor": 1500, "currency": "EUR", "capacity": 10}),
        )
        .await;
    let zone_id = zone.expect(201)["id"].as_str().unwrap().to_owned();
    app.put(
        &format!("{zones}/{zone_id}"),
        Some(token),
        &json!({"name": "Balcony", "price_minor": 1500, "currency": "EUR", "capacity": 12}),
    )
    .await
    .expect(200);
    app.delete(&format!("{zones}/{zone_id}"), Some(token))
        .await
        .expect(204);
    app.delete(&format!("/api/v1/shows/{}", show.show_id), Some(token))
        .await
        .expect(204);
    app.delete(&event_path, Some(token)).await.expect(204);

    let organizer = show.organizer.id;
    let items = entries(
        &app,
        &admin.token,
        &format!("actor={organizer}&action=catalog."),
        8,
    )
    .await;
    let mut seen = actions(&items);
    seen.reverse();
    assert_eq!(
        seen,
        [
            "catalog.event.created",
            "catalog.show.created",
            "catalog.event.updated",
            "catalog.zone.created",
            "catalog.zone.updated",
            "catalog.zone.deleted",
            "catalog.show.deleted",
            "catalog.event.deleted",
        ],
        "oldest to newest"
    );
    // Every catalog entry names the organization, deletions included.
    let of_organization = page(
        &app,
        &admin.token,
        &format!("organization={organization}&action=catalog."),
    )
    .await;
    let mut of_organization = actions(of_organization["items"].as_array().unwrap());
    of_organization.reverse();
    assert_eq!(of_organization, seen);
    let about_zone = page(&app, &admin.token, &format!("target={zone_id}")).await;
    assert_eq!(about_zone["items"].as_array().unwrap().len(), 3);
    assert_eq!(about_zone["items"][0]["target_type"], "zone");
    assert_eq!(about_zone["items"][0]["detail"]["show_id"], show.show_id);
    // Every request carries an id (generated when the client sent none) and an address.
    for e in &items {
        assert!(
            e["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{e}"
        );
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
    }
    app.stop().await;
}

async fn booking_transitions_are_projected_once_across_restarts(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let show = app
        .show_with(ShowSpec {
            hold_ttl_secs: Some(60),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    let confirmed = app.hold(&buyer.token, &show, 1).await;
    app.confirm(&buyer.token, &confirmed).await.expect(200);
    let cancelled = app.hold(&buyer.token, &show, 1).await;
    app.cancel(&buyer.token, &cancelled).await.expect(200);
    let expired = app.hold(&buyer.token, &show, 2).await;
    app.clock.advance_secs(61);
    eventually(WAIT, "the hold expires", || async {
        app.events_of(&expired)
            .await
            .contains(&"booking.expired".to_string())
            .then_some(())
    })
    .await;
    let admin = app.admin().await;
    let bookings = entries(&app, &admin.token, "action=booking.", 6).await;
    let of = |id: &str| -> Vec<String> {
        let mut a: Vec<String> = bookings
            .iter()
            .filter(|e| e["target_id"] == id)
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        a.reverse();
        a
    };
    assert_eq!(of(&confirmed), ["booking.held", "booking.confirmed"]);
    assert_eq!(of(&cancelled), ["booking.held", "booking.cancelled"]);
    assert_eq!(of(&expired), ["booking.held", "booking.expired"]);
    let expiry = bookings
        .iter()
        .find(|e| e["action"] == "booking.expired")
        .unwrap();
    assert_eq!(expiry["actor_type"], "system");
    let held = bookings
        .iter()
        .find(|e| e["action"] == "booking.held" && e["target_id"] == expired)
        .unwrap();
    assert_eq!(held["actor_id"], buyer.id.to_string());
    assert_eq!(held["detail"]["quantity"], 2);
    assert_eq!(held["detail"]["show_id"], show.show_id);
    let last_seq = app.outbox().await.last().unwrap().seq;
    let offset = eventually(WAIT, "the offset reaches the outbox end", || async {
        let o = app.state.store.consumer_offset("audit").await.unwrap();
        (o == last_seq).then_some(o)
    })
    .await;

    app.restart().await;
    let buyer_token = app.token_for(&buyer);
    let after = app.hold(&buyer_token, &show, 1).await;
    let admin_token = app.token_for(&admin);
    entries(&app, &admin_token, &format!("target={after}"), 1).await;
    let all = page(&app, &admin_token, "action=booking.&limit=200").await;
    let all = all["items"].as_array().unwrap();
    assert_eq!(all.len(), 7, "each transition exactly once: {all:#?}");
    let distinct: HashSet<(String, String)> = all
        .iter()
        .map(|e| (e["target_id"].to_string(), e["action"].to_string()))
        .collect();
    assert_eq!(distinct.len(), 7);
    // The entry is appended before the offset moves: wait for both.
    eventually(WAIT, "the offset moves past the new hold", || async {
        (app.state.store.consumer_offset("audit").await.unwrap() > offset).then_some(())
    })
    .await;
    app.stop().await;
}

fn record(
    n: i64,
    actor: UserId,
    action: &str,
    target: &str,
    org: Option<OrganizationId>,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        id: uuid::Uuid::now_v7().to_string(),
        at: Timestamp::from_millis(1_900_000_000_000 + n * 1_000),
        actor_type: ActorType::User,
        actor_id: Some(actor.to_string()),
        organization_id: org,
        action: action.into(),
        target_type: Some("event".into()),
        target_id: Some(target.into()),
        ip: Some("192.0.2.1".into()),
        user_agent: None,
        request_id: None,
        detail: json!({"n": n}),
    }
}

async fn filters_and_cursor_pages_hold_under_concurrent_inserts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin().await;
    let (ana, bob) = (UserId::new(), UserId::new());
    let org = OrganizationId::new();
    let target = uuid::Uuid::now_v7().to_string();
    let mut seeded = Vec::new();
    for n in 0..45 {
        let (actor, action) = match n % 3 {
            0 => (ana, "catalog.event.updated"),
            1 => (bob, "catalog.event.created"),
            _ => (ana, "auth.login.succeeded"),
        };
        let t = if n % 5 == 0 {
            target.clone()
        } else {
            uuid::Uuid::now_v7().to_string()
        };
        seeded.push(record(n, actor, action, &t, (n % 2 == 0).then_some(org)));
    }
    app.state.store.append_audit(&seeded).await.unwrap();

    // Pages of 7 while other entries keep arriving: none twice, none of the
    // seeded ones missing, newest first.
    let writer = {
        let store = app.state.store.clone();
        tokio::spawn(async move {
            for n in 100..130 {
                store
                    .append_audit(&[record(n, bob, "catalog.zone.updated", "x", None)])
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=7&cursor={c}"),
            None => "limit=7".to_string(),
        };
        let p = page(&app, &admin.token, &q).await;
        let items = p["items"].as_array().unwrap();
        assert!(items.len() <= 7);
        seen.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 100, "pagination ends");
    }
    writer.await.unwrap();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no entry twice");
    for r in &seeded {
        assert!(unique.contains(&r.id), "entry {} missing", r.id);
    }
    let positions: Vec<usize> = seeded
        .iter()
        .map(|r| seen.iter().position(|s| *s == r.id).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] > w[1]), "newest first");

    // Filters combine with AND.
    let count = |q: String| {
        let app = &app;
        let token = admin.token.clone();
        async move {
            page(app, &token, &format!("{q}&limit=200")).await["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(format!("actor={ana}")).await, 30);
    assert_eq!(count(format!("actor={ana}&action=auth.")).await, 15);
    assert_eq!(count("action=catalog.event.".into()).await, 30);
    assert_eq!(count("action=catalog.event.created".into()).await, 15);
    assert_eq!(
        count("action=catalog.event".into()).await,
        0,
        "exact, not a prefix"
    );
    assert_eq!(count(format!("target={target}")).await, 9);
    assert_eq!(count(format!("organization={org}")).await, 23);
    // n = 10 .. 19 by their instants: from is inclusive, to exclusive.
    let from = boxoffice::timefmt::rfc3339(Timestamp::from_millis(1_900_000_000_000 + 10_000));
    let to = boxoffice::timefmt::rfc3339(Timestamp::from_millis(1_900_000_000_000 + 20_000));
    assert_eq!(count(format!("from={from}&to={to}")).await, 10);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_read_it_and_no_route_changes_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin().await;
    let buyer = app.buyer().await;
    let organizer = app.organizer().await;
    app.get("/api/v1/admin/audit", None)
        .await
        .expect_problem(401, "/problems/unauthorized");
    for who in [&buyer, &organizer] {
        app.get("/api/v1/admin/audit", Some(&who.token))
            .await
            .expect_problem(403, "/problems/forbidden");
    }
    page(&app, &admin.token, "").await;
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        let r = app
            .send(
                method.clone(),
                "/api/v1/admin/audit",
                Some(&admin.token),
                Some(&json!({})),
            )
            .await;
        assert_eq!(r.status.as_u16(), 405, "{method}: {}", r.text);
    }
    let id = uuid::Uuid::now_v7();
    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let r = app
            .send(
                method.clone(),
                &format!("/api/v1/admin/audit/{id}"),
                Some(&admin.token),
                Some(&json!({})),
            )
            .await;
        assert_eq!(r.status.as_u16(), 404, "{method}: {}", r.text);
    }
    for (query, field) in [
        ("actor=me", "actor"),
        ("organization=1", "organization"),
        ("action=Auth.", "action"),
        ("action=auth..login", "action"),
        ("target=x", "target"),
        ("from=yesterday", "from"),
        ("to=2027-01-01", "to"),
        ("cursor=zz", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
    ] {
        app.get(&format!("/api/v1/admin/audit?{query}"), Some(&admin.token))
            .await
            .expect_field_error(field);
    }
    app.stop().await;
}

/// The reason for the queue, measured: recording through it costs a request a channel
/// send, inline it costs a commit (an fsync on SQLite with `durability = full`). And a
/// graceful stop commits whatever is still queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_entries_are_cheap_and_survive_a_graceful_stop() {
    let mut app = TestApp::spawn(Backend::Sqlite).await;
    let entry = |n: usize| {
        AuditEntry::new(Action::EventUpdated, Actor::System).target(Target::new("event", n))
    };
    let queued = app.state.audit.clone();
    let count = 2_000;
    let started = Instant::now();
    for n in 0..count {
        queued.record(entry(n)).await;
    }
    let per_queued = started.elapsed() / count as u32;
    let inline = AuditLog::inline(app.state.store.clone(), app.state.clock.clone());
    let started = Instant::now();
    for n in 0..50 {
        inline.record(entry(count + n)).await;
    }
    let per_inline = started.elapsed() / 50;
    eprintln!("record: {per_queued:?} queued, {per_inline:?} inline");
    assert!(
        per_queued * 5 < per_inline,
        "queued {per_queued:?} vs inline {per_inline:?}"
    );
    app.restart().await;
    let filter = AuditFilter {
        action: Some(ActionFilter::Exact("catalog.event.updated".into())),
        ..AuditFilter::default()
    };
    let stored = app.state.store.audit_entries(&filter, 5_000).await.unwrap();
    assert_eq!(
        stored.len(),
        count + 50,
        "nothing queued is lost on a graceful stop"
    );
    app.stop().await;
}

async fn store(backend: Backend) -> (SqlStore, TestDb) {
    let db = TestDb::create(backend).await;
    let store = SqlStore::connect(&db.url, 4, Default::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    (store, db)
}

async fn the_database_refuses_to_rewrite_history(backend: Backend) {
    let (store, db) = store(backend).await;
    let entry = record(1, UserId::new(), "auth.login.succeeded", "t", None);
    store
        .append_audit(std::slice::from_ref(&entry))
        .await
        .unwrap();
    // Appending the same id again (a replay) adds nothing.
    store
        .append_audit(&[entry.clone(), entry.clone()])
        .await
        .unwrap();
    let rows = store
        .audit_entries(&AuditFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].seq > 0);
    assert_eq!(
        AuditRecord {
            seq: 0,
            ..rows[0].clone()
        },
        entry
    );

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url)
        .await
        .expect("raw connection");
    for statement in [
        "UPDATE audit_log SET action = 'auth.logout'",
        "DELETE FROM audit_log",
    ] {
        let refused = sqlx::query(statement).execute(&pool).await;
        let message = refused.expect_err(statement).to_string();
        assert!(message.contains("append-only"), "{statement}: {message}");
    }
    if backend == Backend::Postgres {
        let refused = sqlx::query("TRUNCATE audit_log").execute(&pool).await;
        assert!(refused.is_err(), "TRUNCATE is refused");
    }
    pool.close().await;
    let rows = store
        .audit_entries(&AuditFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action, "auth.login.succeeded");

    // Offsets: 0 before the first run, then only forward.
    assert_eq!(store.consumer_offset("audit").await.unwrap(), 0);
    store.save_consumer_offset("audit", 42).await.unwrap();
    store.save_consumer_offset("webhooks", 7).await.unwrap();
    store.save_consumer_offset("audit", 40).await.unwrap();
    assert_eq!(store.consumer_offset("audit").await.unwrap(), 42);
    assert_eq!(store.consumer_offset("webhooks").await.unwrap(), 7);

    // A prefix filter is a prefix, not a LIKE pattern (`_` matches only itself).
    let underscored = record(2, UserId::new(), "auth_x.login", "t", None);
    let lookalike = record(3, UserId::new(), "authyx.login", "t", None);
    store.append_audit(&[underscored, lookalike]).await.unwrap();
    let filter = AuditFilter {
        action: Some(ActionFilter::Prefix("auth_x.".into())),
        ..AuditFilter::default()
    };
    let found = store.audit_entries(&filter, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].action, "auth_x.login");
    store.close().await;
}

on_both_backends!(
    account_actions_are_recorded_with_their_origin,
    catalog_changes_are_recorded,
    booking_transitions_are_projected_once_across_restarts,
    filters_and_cursor_pages_hold_under_concurrent_inserts,
    the_database_refuses_to_rewrite_history,
);

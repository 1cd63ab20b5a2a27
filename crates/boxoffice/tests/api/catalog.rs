//! Organizer management of events, shows and zones; public browsing with filters and
//! pagination; live availability; capacity and deletion rules.
use crate::on_both_backends;
use crate::support::{rfc3339, Backend, ShowSpec, TestApp};
use boxoffice::clock::Clock;
use serde_json::{json, Value};

const DAY: i64 = 24 * 3600;

fn show_body(app: &TestApp, in_days: i64) -> Value {
    json!({
        "venue": "Arena",
        "starts_at": rfc3339(app.clock.now().plus_secs(in_days * DAY)),
        "zones": [{"name": "Floor", "price_minor": 4500, "currency": "EUR", "capacity": 50}],
    })
}

#[tokio::test]
async fn organizer_manages_events_shows_and_zones() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let org = app.organizer().await;
    let t = Some(org.token.as_str());

    let event = app
        .create_event(
            &org.token,
            &json!({"title": " Jazz Night ", "description": "Late set", "category": "concert", "city": "Lyon"}),
        )
        .await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    assert_eq!(event["title"], "Jazz Night");
    assert_eq!(event["category"], "concert");
    assert_eq!(event["organizer_id"], org.id.to_string());

    let r = app
        .put(
            &format!("/api/v1/events/{event_id}"),
            t,
            &json!({"title": "Jazz Night II", "category": "festival", "city": "Lyon"}),
        )
        .await;
    assert_eq!(r.expect(200)["title"], "Jazz Night II");
    let r = app.get(&format!("/api/v1/events/{event_id}"), None).await;
    assert_eq!(r.expect(200)["category"], "festival");

    let show = app
        .create_show(&org.token, &event_id, &show_body(&app, 10))
        .await;
    let show_id = show["id"].as_str().unwrap().to_owned();
    assert_eq!(show["sale_state"], "open");
    assert_eq!(show["hold_ttl_secs"], 600);
    assert_eq!(show["per_user_limit"], 6);
    assert_eq!(show["zones"][0]["currency"], "EUR");
    assert_eq!(show["zones"][0]["available"], 50);

    // Show update keeps zones, changes rules.
    let mut update = show_body(&app, 12);
    update.as_object_mut().unwrap().remove("zones");
    update["hold_ttl_secs"] = json!(120);
    update["per_user_limit"] = json!(2);
    let r = app
        .put(&format!("/api/v1/shows/{show_id}"), t, &update)
        .await;
    let body = r.expect(200);
    assert_eq!(body["hold_ttl_secs"], 120);
    assert_eq!(body["per_user_limit"], 2);
    assert_eq!(body["zones"].as_array().unwrap().len(), 1);

    // Zones: add, rename/resize, duplicate name refused, delete.
    let r = app
        .post(
            &format!("/api/v1/shows/{show_id}/zones"),
            t,
            &json!({"name": "Balcony", "price_minor": 3000, "currency": "EUR", "capacity": 20}),
        )
        .await;
    let zone_id = r.expect(201)["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/shows/{show_id}/zones"),
            t,
            &json!({"name": "Balcony", "price_minor": 3000, "currency": "EUR", "capacity": 20}),
        )
        .await;
    r.expect_field_error("name");
    let r = app
        .put(
            &format!("/api/v1/shows/{show_id}/zones/{zone_id}"),
            t,
            &json!({"name": "Upper Balcony", "price_minor": 3500, "currency": "EUR", "capacity": 25}),
        )
        .await;
    let z = r.expect(200);
    assert_eq!(
        (z["name"].as_str(), z["capacity"].as_u64()),
        (Some("Upper Balcony"), Some(25))
    );
    assert_eq!(z["available"], 25);
    let zones = app
        .get(&format!("/api/v1/shows/{show_id}/zones"), None)
        .await;
    assert_eq!(zones.expect(200).as_array().unwrap().len(), 2);
    app.delete(&format!("/api/v1/shows/{show_id}/zones/{zone_id}"), t)
        .await
        .expect(204);
    let zones = app
        .get(&format!("/api/v1/shows/{show_id}/zones"), None)
        .await;
    assert_eq!(zones.expect(200).as_array().unwrap().len(), 1);

    let shows = app
        .get(&format!("/api/v1/events/{event_id}/shows"), None)
        .await;
    assert_eq!(shows.expect(200).as_array().unwrap().len(), 1);

    app.delete(&format!("/api/v1/shows/{show_id}"), t)
        .await
        .expect(204);
    app.get(&format!("/api/v1/shows/{show_id}"), None)
        .await
        .expect_problem(404, "/problems/not-found");
    app.delete(&format!("/api/v1/events/{event_id}"), t)
        .await
        .expect(204);
    app.get(&format!("/api/v1/events/{event_id}"), None)
        .await
        .expect_problem(404, "/problems/not-found");
}

#[tokio::test]
async fn only_the_owner_or_an_admin_changes_an_event() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let fixture = app.show_with(ShowSpec::default()).await;
    let intruder = app.organizer().await;
    let it = Some(intruder.token.as_str());
    let event_path = format!("/api/v1/events/{}", fixture.event_id);
    let show_path = format!("/api/v1/shows/{}", fixture.show_id);
    let event_body = json!({"title": "Hijacked", "category": "concert", "city": "Lyon"});

    app.put(&event_path, it, &event_body)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.delete(&event_path, it)
        .await
        .expect_problem(403, "/problems/forbidden");
    let mut show = show_body(&app, 5);
    show.as_object_mut().unwrap().remove("zones");
    app.put(&show_path, it, &show)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.delete(&show_path, it)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.post(
        &format!("{show_path}/zones"),
        it,
        &json!({"name": "Extra", "price_minor": 100, "currency": "EUR", "capacity": 5}),
    )
    .await
    .expect_problem(403, "/problems/forbidden");
    app.post(&format!("{event_path}/shows"), it, &show_body(&app, 5))
        .await
        .expect_problem(403, "/problems/forbidden");

    // Nothing changed.
    let event = app.get(&event_path, None).await;
    assert_eq!(event.expect(200)["title"], "Night Test");
    let zones = app.get(&format!("{show_path}/zones"), None).await;
    assert_eq!(zones.expect(200).as_array().unwrap().len(), 1);

    // A buyer publishes nothing; an admin may change anyone's event.
    let buyer = app.buyer().await;
    app.post("/api/v1/events", Some(&buyer.token), &event_body)
        .await
        .expect_problem(403, "/problems/forbidden");
    app.post("/api/v1/events", None, &event_body)
        .await
        .expect_problem(401, "/problems/unauthorized");
    let admin = app.admin().await;
    let r = app
        .put(
            &event_path,
            Some(&admin.token),
            &json!({"title": "Moderated", "category": "concert", "city": "Lyon"}),
        )
        .await;
    assert_eq!(r.expect(200)["title"], "Moderated");
}

async fn listing_filters_and_pagination(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let org = app.organizer().await;
    // (title, description, category, city, show in days)
    let events = [
        (
            "Aurora Live",
            "synth-pop tour",
            "concert",
            "Lisbon",
            Some(10),
        ),
        ("City Derby", "decisive match", "sports", "Madrid", Some(40)),
        (
            "Stand-up Night",
            "five comedians",
            "comedy",
            "Paris",
            Some(20),
        ),
        (
            "Jazz Trio",
            "late 100% acoustic set",
            "concert",
            "Paris",
            Some(60),
        ),
        ("Rock Fest", "three stages", "festival", "lisbon", None),
    ];
    let mut ids = std::collections::HashMap::new();
    for (title, description, category, city, show_in) in events {
        let e = app
            .create_event(
                &org.token,
                &json!({"title": title, "description": description, "category": category, "city": city}),
            )
            .await;
        let id = e["id"].as_str().unwrap().to_owned();
        if let Some(days) = show_in {
            app.create_show(&org.token, &id, &show_body(&app, days))
                .await;
        }
        ids.insert(title, id);
    }

    let titles = |r: &crate::support::Resp| -> Vec<String> {
        let mut t: Vec<String> = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["title"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };

    let all = app.get("/api/v1/events", None).await;
    assert_eq!(all.expect(200)["total"], 5);
    assert_eq!(all.body["page"], 1);
    assert_eq!(all.body["per_page"], 20);
    assert_eq!(titles(&all).len(), 5);

    // Pages: 2 + 2 + 1, disjoint, newest first.
    let mut seen = Vec::new();
    for (page, expected) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let r = app
            .get(&format!("/api/v1/events?page={page}&per_page=2"), None)
            .await;
        assert_eq!(r.expect(200)["total"], 5);
        let items = r.body["items"].as_array().unwrap();
        assert_eq!(items.len(), expected, "page {page}");
        seen.extend(items.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], ids["Rock Fest"], "newest first");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "pages do not overlap");

    let cases: Vec<(String, Vec<&str>)> = vec![
        ("q=JAZZ".into(), vec!["Jazz Trio"]),
        ("q=comedians".into(), vec!["Stand-up Night"]),
        // `%` is matched literally, not as a wildcard.
        ("q=100%25".into(), vec!["Jazz Trio"]),
        ("q=%25".into(), vec!["Jazz Trio"]),
        ("category=concert".into(), vec!["Aurora Live", "Jazz Trio"]),
        ("city=LISBON".into(), vec!["Aurora Live", "Rock Fest"]),
        ("city=Paris&category=comedy".into(), vec!["Stand-up Night"]),
        (
            format!("from={}", rfc3339(app.clock.now().plus_secs(15 * DAY))),
            vec!["City Derby", "Jazz Trio", "Stand-up Night"],
        ),
        (
            format!(
                "from={}&to={}",
                rfc3339(app.clock.now().plus_secs(15 * DAY)),
                rfc3339(app.clock.now().plus_secs(50 * DAY))
            ),
            vec!["City Derby", "Stand-up Night"],
        ),
        ("q=nothing-like-this".into(), vec![]),
    ];
    for (query, expected) in cases {
        let r = app.get(&format!("/api/v1/events?{query}"), None).await;
        r.expect(200);
        assert_eq!(titles(&r), expected, "query {query}");
        assert_eq!(r.body["total"], expected.len(), "total of {query}");
    }

    let r = app.get("/api/v1/events?per_page=101", None).await;
    r.expect_field_error("per_page");
    let r = app.get("/api/v1/events?page=0", None).await;
    r.expect_field_error("page");
    let r = app.get("/api/v1/events?category=opera", None).await;
    r.expect_field_error("category");
    let r = app.get("/api/v1/events?from=tomorrow", None).await;
    r.expect_field_error("from");
    let r = app
        .get(
            "/api/v1/events?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
            None,
        )
        .await;
    r.expect_field_error("to");
    let r = app.get("/api/v1/events?per_page=ten", None).await;
    r.expect_field_error("per_page");
}

on_both_backends!(listing_filters_and_pagination);

#[tokio::test]
async fn availability_is_live_and_capacity_cannot_shrink_below_commitments() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 10,
            ..ShowSpec::default()
        })
        .await;
    let zone = app.zone_view(&show).await;
    assert_eq!(
        (
            &zone["capacity"],
            &zone["available"],
            &zone["held"],
            &zone["sold"]
        ),
        (&json!(10), &json!(10), &json!(0), &json!(0))
    );

    let buyer = app.buyer().await;
    let a = app.hold(&buyer.token, &show, 3).await;
    let zone = app.zone_view(&show).await;
    assert_eq!(
        (zone["available"].as_u64(), zone["held"].as_u64()),
        (Some(7), Some(3))
    );
    app.confirm(&buyer.token, &a).await.expect(200);
    app.hold(&buyer.token, &show, 1).await;
    let zone = app.zone_view(&show).await;
    assert_eq!(
        (
            zone["available"].as_u64(),
            zone["held"].as_u64(),
            zone["sold"].as_u64()
        ),
        (Some(6), Some(1), Some(3))
    );

    let zone_path = format!("/api/v1/shows/{}/zones/{}", show.show_id, show.zone_id);
    let t = Some(show.organizer.token.as_str());
    let resize = |capacity: i64| json!({"name": "Floor", "price_minor": 2500, "currency": "EUR", "capacity": capacity});
    app.put(&zone_path, t, &resize(3))
        .await
        .expect_field_error("capacity");
    assert_eq!(app.zone_view(&show).await["capacity"], 10);
    let r = app.put(&zone_path, t, &resize(4)).await;
    assert_eq!(r.expect(200)["available"], 0);
    app.reserve(&buyer.token, &show, 1)
        .await
        .expect_problem(409, "/problems/sold-out");
    let r = app.put(&zone_path, t, &resize(12)).await;
    assert_eq!(r.expect(200)["available"], 8);
    assert_eq!(app.sales(&show).await["consistent"], true);

    // A show or zone with bookings cannot be deleted.
    app.delete(&format!("/api/v1/shows/{}", show.show_id), t)
        .await
        .expect_problem(409, "/problems/in-use");
    app.delete(&zone_path, t)
        .await
        .expect_problem(409, "/problems/in-use");
    app.delete(&format!("/api/v1/events/{}", show.event_id), t)
        .await
        .expect_problem(409, "/problems/in-use");
    assert_eq!(app.zone_view(&show).await["sold"], 3);
}

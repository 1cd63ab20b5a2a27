//! The API description, the bundled docs page, health endpoints and security headers.
use crate::support::{Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Routes the platform must serve and describe, at the least.
const KNOWN: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("put", "/api/v1/auth/me"),
    ("post", "/api/v1/admin/users/bulk"),
    ("get", "/api/v1/events"),
    ("post", "/api/v1/events"),
    ("get", "/api/v1/events/{id}"),
    ("put", "/api/v1/events/{id}"),
    ("delete", "/api/v1/events/{id}"),
    ("get", "/api/v1/events/{id}/shows"),
    ("post", "/api/v1/events/{id}/shows"),
    ("get", "/api/v1/shows/{id}"),
    ("put", "/api/v1/shows/{id}"),
    ("delete", "/api/v1/shows/{id}"),
    ("get", "/api/v1/shows/{id}/zones"),
    ("post", "/api/v1/shows/{id}/zones"),
    ("put", "/api/v1/shows/{id}/zones/{zone_id}"),
    ("delete", "/api/v1/shows/{id}/zones/{zone_id}"),
    ("get", "/api/v1/shows/{id}/sales"),
    ("post", "/api/v1/bookings/reserve"),
    ("get", "/api/v1/bookings"),
    ("get", "/api/v1/bookings/pending"),
    ("get", "/api/v1/bookings/{id}"),
    ("post", "/api/v1/bookings/{id}/confirm"),
    ("post", "/api/v1/bookings/{id}/cancel"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_string(), path.clone()))
        })
        .collect()
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let r = app.get("/api/v1/openapi.json", None).await;
    let doc = r.expect(200).clone();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "OpenAPI 3.1.x, got {}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "boxoffice");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    let served = operations(&doc);
    let (_, built) = boxoffice::http::api();
    let built = operations(&serde_json::to_value(&built).unwrap());
    assert_eq!(served, built, "the served document is the router's");
    for (method, path) in KNOWN {
        assert!(
            served.contains(&(method.to_string(), path.to_string())),
            "{} {path} is not documented",
            method.to_uppercase()
        );
    }

    // Every documented operation is routed: it never falls through to "no such
    // route" or "method not allowed". Requests are anonymous, so nothing changes.
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path) in &served {
        let concrete = path.replace("{id}", &id).replace("{zone_id}", &id);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = (m != Method::GET && m != Method::DELETE).then(|| json!({}));
        let r = app.send(m, &concrete, None, body.as_ref()).await;
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text);
        assert!(
            !(r.status == 404 && r.body["detail"] == "route not found"),
            "{method} {path} is documented but not routed"
        );
    }
    // The fallback really answers that way, so the check above can fail.
    let r = app.get("/api/v1/not-documented", None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["detail"].as_str()),
        (404, Some("route not found"))
    );
}

fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

#[tokio::test]
async fn the_docs_page_is_served_from_the_binary() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "the Swagger UI page");
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no CDN: {html}"
    );

    let assets: Vec<&str> = attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "scripts and styles are referenced: {assets:?}"
    );
    let mut initializer = None;
    for asset in assets {
        assert!(!asset.contains("//"), "asset from elsewhere: {asset}");
        let url = app.url(&format!("/docs/{}", asset.trim_start_matches("./")));
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let body = res.text().await.unwrap();
        assert!(!body.is_empty(), "{url} is empty");
        if asset.contains("initializer") {
            initializer = Some(body);
        }
    }
    let initializer = initializer.expect("a swagger initializer script");
    assert!(
        initializer.contains("/api/v1/openapi.json"),
        "the docs load our document: {initializer}"
    );
}

#[tokio::test]
async fn health_and_security_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let live = app.get("/health/live", None).await;
    assert_eq!(live.expect(200)["status"], "ok");
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.expect(200)["status"], "ready");

    for r in [
        live,
        ready,
        app.get("/api/v1/events", None).await,
        app.get("/api/v1/nowhere", None).await,
    ] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(r.header("content-security-policy").is_some());
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.get("/health/ready", None).await.expect(200);
    let name = app.db.url.rsplit('/').next().unwrap().to_owned();
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&crate::support::postgres_admin_url())
        .await
        .unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let r = app.get("/health/ready", None).await;
    r.expect_problem(503, "/problems/unavailable");
    app.get("/health/live", None).await.expect(200);
}

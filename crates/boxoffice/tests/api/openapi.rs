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
    ("get", "/api/v1/auth/me/export"),
    ("delete", "/api/v1/auth/me"),
    ("get", "/api/v1/admin/users"),
    ("get", "/api/v1/admin/users/{user_id}"),
    ("delete", "/api/v1/admin/users/{user_id}"),
    ("put", "/api/v1/admin/users/{user_id}/role"),
    ("put", "/api/v1/auth/me"),
    ("post", "/api/v1/admin/users/bulk"),
    ("post", "/api/v1/auth/login/mfa"),
    ("get", "/api/v1/auth/mfa"),
    ("post", "/api/v1/auth/mfa/totp"),
    ("delete", "/api/v1/auth/mfa/totp"),
    ("post", "/api/v1/auth/mfa/totp/confirm"),
    ("post", "/api/v1/auth/mfa/backup-codes"),
    ("get", "/api/v1/auth/mfa/trusted-devices"),
    ("delete", "/api/v1/auth/mfa/trusted-devices"),
    ("delete", "/api/v1/auth/mfa/trusted-devices/{id}"),
    ("post", "/api/v1/auth/verify-email/request"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/password/forgot"),
    ("post", "/api/v1/auth/password/reset"),
    ("post", "/api/v1/auth/password"),
    ("get", "/api/v1/auth/sessions"),
    ("delete", "/api/v1/auth/sessions"),
    ("delete", "/api/v1/auth/sessions/{id}"),
    ("get", "/api/v1/admin/audit"),
    ("get", "/api/v1/admin/dead-letters"),
    ("get", "/api/v1/admin/dead-letters/{id}"),
    ("post", "/api/v1/admin/dead-letters/{id}/replay"),
    ("post", "/api/v1/admin/dead-letters/{id}/discard"),
    ("get", "/api/v1/notifications"),
    ("post", "/api/v1/notifications/{id}/read"),
    ("post", "/api/v1/notifications/read-all"),
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
    ("post", "/api/v1/layouts"),
    ("get", "/api/v1/layouts/{id}"),
    ("put", "/api/v1/shows/{id}/seating"),
    ("get", "/api/v1/shows/{id}/seating"),
    ("get", "/api/v1/shows/{id}/seats"),
    ("get", "/api/v1/shows/{id}/seats.svg"),
    ("post", "/api/v1/bookings/{id}/checkout"),
    ("get", "/api/v1/bookings/{id}/payments"),
    ("post", "/api/v1/bookings/{id}/refund"),
    ("post", "/api/v1/refunds/{id}/approve"),
    ("post", "/api/v1/refunds/{id}/reject"),
    ("get", "/api/v1/shows/{id}/refunds"),
    ("get", "/api/v1/shows/{id}/refund-policy"),
    ("put", "/api/v1/shows/{id}/refund-policy"),
    ("post", "/api/v1/payments/webhook"),
    ("get", "/api/v1/tickets"),
    ("get", "/api/v1/tickets/{id}"),
    ("get", "/api/v1/tickets/{id}/qr.svg"),
    ("post", "/api/v1/tickets/{id}/transfer"),
    ("get", "/api/v1/bookings/{id}/tickets"),
    ("get", "/api/v1/bookings/{id}/tickets.pdf"),
    ("get", "/api/v1/shows/{id}/ticket-policy"),
    ("put", "/api/v1/shows/{id}/ticket-policy"),
    ("post", "/api/v1/checkin/scan"),
    ("get", "/api/v1/shows/{id}/checkin-lists"),
    ("post", "/api/v1/shows/{id}/checkin-lists"),
    ("get", "/api/v1/checkin-lists/{id}/offline"),
    ("post", "/api/v1/checkin-lists/{id}/sync"),
    ("get", "/api/v1/shows/{id}/attendance"),
    ("post", "/api/v1/bookings/reserve"),
    ("get", "/api/v1/bookings"),
    ("get", "/api/v1/bookings/pending"),
    ("get", "/api/v1/bookings/{id}"),
    ("post", "/api/v1/bookings/{id}/confirm"),
    ("post", "/api/v1/bookings/{id}/cancel"),
    ("get", "/api/v1/organizations"),
    ("post", "/api/v1/organizations"),
    ("get", "/api/v1/admin/organizations"),
    ("get", "/api/v1/organizations/{id}"),
    ("put", "/api/v1/organizations/{id}"),
    ("get", "/api/v1/organizations/{id}/members"),
    ("put", "/api/v1/organizations/{id}/members/{user_id}"),
    ("delete", "/api/v1/organizations/{id}/members/{user_id}"),
    ("get", "/api/v1/organizations/{id}/invitations"),
    ("post", "/api/v1/organizations/{id}/invitations"),
    (
        "delete",
        "/api/v1/organizations/{id}/invitations/{invitation_id}",
    ),
    ("post", "/api/v1/invitations/accept"),
    ("get", "/api/v1/organizations/{id}/api-keys"),
    ("post", "/api/v1/organizations/{id}/api-keys"),
    ("delete", "/api/v1/organizations/{id}/api-keys/{key_id}"),
    ("get", "/api/v1/organizations/{id}/audit"),
    ("get", "/api/v1/organizations/{id}/webhooks"),
    ("post", "/api/v1/organizations/{id}/webhooks"),
    ("get", "/api/v1/organizations/{id}/webhooks/{webhook_id}"),
    ("patch", "/api/v1/organizations/{id}/webhooks/{webhook_id}"),
    ("delete", "/api/v1/organizations/{id}/webhooks/{webhook_id}"),
    (
        "post",
        "/api/v1/organizations/{id}/webhooks/{webhook_id}/rotate-secret",
    ),
    (
        "get",
        "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries",
    ),
    (
        "get",
        "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}",
    ),
    (
        "post",
        "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    ),
    (
        "post",
        "/api/v1/organizations/{id}/webhooks/{webhook_id}/ping",
    ),
    ("get", "/api/v1/shows/{id}/queue"),
    ("put", "/api/v1/shows/{id}/queue"),
    ("post", "/api/v1/shows/{id}/queue/state"),
    ("post", "/api/v1/shows/{id}/queue/join"),
    ("get", "/api/v1/shows/{id}/queue/status"),
    ("get", "/api/v1/shows/{id}/queue/events"),
    ("post", "/api/v1/shows/{id}/queue/leave"),
    ("get", "/api/v1/shows/{id}/queue/draw"),
    ("get", "/api/v1/shows/{id}/queue/stats"),
    ("post", "/api/v1/shows/{id}/queue/passes/{pass_id}/revoke"),
    ("get", "/api/v1/keys"),
    ("get", "/.well-known/jwks.json"),
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

/// Two request bodies of the same Rust name would share one component, the last
/// registered winning: a member's role change and an account's role change must
/// each keep their own closed set.
#[tokio::test]
async fn each_role_change_body_keeps_its_own_roles() {
    let doc = served_document().await;
    let roles = |path: &str, method: &str| {
        let body =
            &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
        let name = body["$ref"]
            .as_str()
            .expect("a component")
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let mut roles: Vec<String> = doc["components"]["schemas"][&name]["properties"]["role"]
            ["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: role is a closed set"))
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        roles.sort();
        roles
    };
    assert_eq!(
        roles("/api/v1/organizations/{id}/members/{user_id}", "put"),
        ["box_office", "manager", "owner"]
    );
    assert_eq!(
        roles("/api/v1/admin/users/{user_id}/role", "put"),
        ["admin", "buyer", "organizer"]
    );
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

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name}");
    s
}

fn prop<'a>(doc: &'a Value, name: &str, field: &str) -> &'a Value {
    let p = &schema(doc, name)["properties"][field];
    assert!(p.is_object(), "no property {name}.{field}");
    p
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// The document a running server serves.
async fn served_document() -> Value {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app
        .get("/api/v1/openapi.json", None)
        .await
        .expect(200)
        .clone();
    app.stop().await;
    doc
}

/// The problem types a response documents (allOf [Problem, {type: enum}]).
fn response_types(op: &Value, status: &str) -> Vec<String> {
    let schema = &op["responses"][status]["content"]["application/problem+json"]["schema"];
    strings(&schema["allOf"][1]["properties"]["type"]["enum"])
}

#[tokio::test]
async fn every_operation_states_its_statuses_problem_types_and_examples() {
    use boxoffice::http::problem;
    let doc = served_document().await;

    // The problem type enum is exactly what the code can produce.
    let declared: BTreeSet<String> =
        strings(&schema(&doc, "Problem")["properties"]["type"]["enum"])
            .into_iter()
            .collect();
    let produced: BTreeSet<String> = problem::all_types().into_iter().collect();
    assert_eq!(declared, produced);
    for kind in problem::conflict_kinds() {
        assert!(
            declared.contains(&format!("/problems/{}", kind.slug())),
            "{kind:?}"
        );
    }

    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let name = format!("{} {path}", method.to_uppercase());
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: operationId"));
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{name}: operationId {id} is not camelCase"
            );
            assert!(ids.insert(id.to_owned()), "{id} is used twice");
            assert!(!strings(&op["tags"]).is_empty(), "{name}: a tag");

            let statuses: BTreeSet<&str> = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let has = |place: &str| params.iter().any(|p| p["in"] == place);
            let has_body = op.get("requestBody").is_some();
            let mut expected = vec!["500", "503"];
            if has_body {
                expected.extend(["400", "413", "415", "422"]);
            }
            if has("path") {
                expected.extend(["400", "404"]);
            }
            if op.get("security").is_some() {
                expected.push("401");
            }
            if has("query") {
                expected.push("422");
            }
            for s in expected {
                assert!(statuses.contains(s), "{name} does not document {s}");
            }
            // Rate limits: every route but the probes and the well-known key set
            // (outside /api, for edges to fetch), with their headers.
            if path.starts_with("/health/") || path.starts_with("/.well-known/") {
                assert!(!statuses.contains("429"), "{name}: not limited");
            } else {
                assert_eq!(
                    response_types(op, "429"),
                    ["/problems/rate-limited"],
                    "{name}: 429"
                );
                assert!(
                    op["responses"]["429"]["headers"]["Retry-After"].is_object(),
                    "{name}: Retry-After"
                );
                for (status, res) in op["responses"].as_object().unwrap() {
                    for h in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                        assert!(res["headers"][h].is_object(), "{name} {status}: {h}");
                    }
                }
            }
            assert!(!statuses.contains("default"), "{name}: statuses are listed");
            for s in statuses
                .iter()
                .filter(|s| s.starts_with('4') || s.starts_with('5'))
            {
                let types = response_types(op, s);
                assert!(!types.is_empty(), "{name} {s}: problem types");
                for t in &types {
                    assert!(declared.contains(t), "{name} {s}: unknown type {t}");
                }
            }
            // Operations that call the payment provider add its outage, with the
            // time to retry after.
            let mut unavailable: Vec<String> = problem::UNAVAILABLE_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect();
            if op["responses"]["503"]["headers"]["Retry-After"].is_object() {
                unavailable.push("/problems/payment-unavailable".into());
            }
            assert_eq!(response_types(op, "503"), unavailable, "{name}: 503");

            // Writes: Idempotency-Key with its two refusals (credential endpoints
            // are exempt); every request may carry X-Request-Id.
            let header = |n: &str| params.iter().any(|p| p["in"] == "header" && p["name"] == n);
            assert!(header("X-Request-Id"), "{name}: X-Request-Id");
            let exempt = boxoffice::http::idempotency::EXEMPT_PREFIXES
                .iter()
                .any(|p| path.starts_with(p));
            if *method != "get" && !exempt {
                assert!(header("Idempotency-Key"), "{name}: Idempotency-Key");
                assert!(response_types(op, "409").contains(&"/problems/request-in-flight".into()));
                assert!(
                    response_types(op, "422").contains(&"/problems/idempotency-key-reused".into())
                );
            } else {
                assert!(!header("Idempotency-Key"), "{name}: not idempotent");
            }

            // Examples: the request body and the success answer.
            if has_body {
                let ex = &op["requestBody"]["content"]["application/json"]["example"];
                assert!(ex.is_object(), "{name}: request example");
            }
            let (ok, res) = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(s, _)| s.starts_with('2'))
                .unwrap_or_else(|| panic!("{name}: a success status"));
            if ok != "204" {
                // JSON, an event stream's events, or the one media type of a
                // document answer (PDF, SVG, JWS).
                let content = res["content"].as_object().expect("a response body");
                let media = content
                    .get("application/json")
                    .or_else(|| content.get("text/event-stream"))
                    .or_else(|| content.values().next().filter(|_| content.len() == 1));
                assert!(
                    media.is_some_and(|m| !m["example"].is_null()),
                    "{name}: response example"
                );
            }
        }
    }
    assert_eq!(ids.len(), KNOWN.len(), "one operationId per route");
}

#[tokio::test]
async fn closed_sets_formats_and_bounds_come_from_the_domain() {
    use boxoffice_domain::account::{PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS};
    use boxoffice_domain::booking::BookingStatus;
    use boxoffice_domain::catalog::*;
    use boxoffice_domain::money::{CURRENCY_PATTERN, MAX_PRICE_MINOR};
    let doc = served_document().await;

    assert_eq!(
        strings(&prop(&doc, "EventInput", "category")["enum"]),
        CATEGORIES
    );
    assert_eq!(
        strings(&prop(&doc, "EventView", "category")["enum"]),
        CATEGORIES
    );
    assert_eq!(
        strings(&prop(&doc, "ShowView", "sale_state")["enum"]),
        ["not_yet_open", "open", "closed"]
    );
    let statuses: Vec<&str> = BookingStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        strings(&prop(&doc, "BookingView", "status")["enum"]),
        statuses
    );
    assert_eq!(
        strings(&prop(&doc, "UserView", "role")["enum"]),
        ["buyer", "organizer", "admin"]
    );
    let signup: Vec<Value> = prop(&doc, "RegisterRequest", "role")["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(signup, [json!("buyer"), json!("organizer"), Value::Null]);

    for (s, f) in [
        ("ShowInput", "starts_at"),
        ("ShowInput", "sale_opens_at"),
        ("ShowInput", "sale_closes_at"),
        ("ShowView", "starts_at"),
        ("ShowView", "sale_opens_at"),
        ("ShowView", "sale_closes_at"),
        ("EventView", "created_at"),
        ("EventView", "updated_at"),
        ("BookingView", "expires_at"),
        ("BookingView", "created_at"),
        ("UserView", "created_at"),
    ] {
        assert_eq!(prop(&doc, s, f)["format"], "date-time", "{s}.{f}");
    }
    for (s, f) in [
        ("ReserveRequest", "show_id"),
        ("ReserveRequest", "zone_id"),
        ("BookingView", "id"),
        ("ShowView", "id"),
        ("EventView", "organizer_id"),
        ("UserView", "id"),
    ] {
        assert_eq!(prop(&doc, s, f)["format"], "uuid", "{s}.{f}");
    }
    // Null only where the server sends or accepts it.
    assert_eq!(prop(&doc, "ShowView", "starts_at")["type"], "string");
    assert_eq!(
        prop(&doc, "ShowInput", "sale_opens_at")["type"],
        json!(["string", "null"])
    );

    let bounds = |s: &str, f: &str| {
        let p = prop(&doc, s, f);
        (p["minimum"].as_f64(), p["maximum"].as_f64())
    };
    let limit = f64::from(MAX_PER_USER_LIMIT);
    assert_eq!(
        bounds("ReserveRequest", "quantity"),
        (Some(1.0), Some(limit))
    );
    assert_eq!(
        bounds("ShowInput", "per_user_limit"),
        (Some(1.0), Some(limit))
    );
    assert_eq!(
        bounds("ShowInput", "hold_ttl_secs"),
        (
            Some(MIN_HOLD_TTL_SECS as f64),
            Some(MAX_HOLD_TTL_SECS as f64)
        )
    );
    assert_eq!(
        bounds("ZoneInput", "capacity"),
        (Some(1.0), Some(f64::from(MAX_ZONE_CAPACITY)))
    );
    assert_eq!(
        bounds("ZoneInput", "price_minor"),
        (Some(0.0), Some(MAX_PRICE_MINOR as f64))
    );
    assert_eq!(
        bounds("BulkBuyersRequest", "count"),
        (Some(1.0), Some(10_000.0))
    );
    assert_eq!(
        prop(&doc, "ZoneInput", "currency")["pattern"],
        CURRENCY_PATTERN
    );
    let lengths = |s: &str, f: &str| {
        let p = prop(&doc, s, f);
        (
            p["minLength"].as_u64(),
            p["maxLength"].as_u64(),
            p["pattern"].is_string(),
        )
    };
    assert_eq!(lengths("EventInput", "title"), (Some(1), Some(200), true));
    assert_eq!(
        lengths("EventInput", "description"),
        (Some(0), Some(5_000), true)
    );
    assert_eq!(lengths("EventInput", "city"), (Some(1), Some(100), true));
    assert_eq!(lengths("ShowInput", "venue"), (Some(1), Some(200), true));
    assert_eq!(
        lengths("RegisterRequest", "display_name"),
        (Some(1), Some(80), true)
    );
    assert_eq!(
        lengths("RegisterRequest", "password"),
        (
            Some(PASSWORD_MIN_CHARS as u64),
            Some(PASSWORD_MAX_CHARS as u64),
            true
        )
    );
    assert_eq!(prop(&doc, "RegisterRequest", "email")["maxLength"], 254);

    let query = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && p["in"] == "query")
            .unwrap_or_else(|| panic!("{path} ?{name}"))["schema"]
            .clone()
    };
    let events = "/api/v1/events";
    assert_eq!(
        (
            query(events, "page")["minimum"].as_f64(),
            query(events, "page")["maximum"].as_f64()
        ),
        (Some(1.0), Some(1_000_000.0))
    );
    assert_eq!(query(events, "per_page")["maximum"].as_f64(), Some(100.0));
    assert_eq!(query(events, "q")["maxLength"], 100);
    assert_eq!(query(events, "from")["format"], "date-time");
    assert_eq!(strings(&query(events, "category")["enum"]), CATEGORIES);
    assert!(query("/api/v1/bookings", "status")["pattern"].is_string());
}

#[tokio::test]
async fn webhook_payloads_and_event_types_are_documented_from_the_domain() {
    use boxoffice_domain::webhook::{delivered_types, EVENT_TYPES, MAX_URL_CHARS, URL_PATTERN};
    let doc = served_document().await;
    let subscribable = &prop(&doc, "WebhookInput", "event_types")["items"]["enum"];
    assert_eq!(strings(subscribable), EVENT_TYPES);
    assert_eq!(
        strings(&schema(&doc, "WebhookEventType")["enum"]),
        delivered_types()
    );
    let url = prop(&doc, "WebhookInput", "url");
    assert_eq!(url["pattern"], URL_PATTERN);
    assert_eq!(url["maxLength"], MAX_URL_CHARS);
    let envelope = schema(&doc, "WebhookEvent");
    for field in ["id", "type", "created_at", "data"] {
        assert!(envelope["properties"][field].is_object(), "{field}");
    }
    assert_eq!(
        envelope["properties"]["type"]["$ref"],
        "#/components/schemas/WebhookEventType"
    );
    let scheme = envelope["description"].as_str().unwrap();
    for needle in [
        "HMAC-SHA256",
        "Boxoffice-Signature",
        "{t}.{raw body}",
        "5 minutes",
    ] {
        assert!(scheme.contains(needle), "{needle}: {scheme}");
    }
    assert!(schema(&doc, "BookingPayload")["properties"]["show_id"].is_object());
    assert_eq!(
        strings(&prop(&doc, "DeliveryView", "status")["enum"]),
        ["pending", "delivered", "failed"]
    );
}

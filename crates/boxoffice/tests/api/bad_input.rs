//! Malformed and hostile requests: each gets the right status and a complete problem
//! document, and none of them takes a ticket.
use crate::support::{assert_problem_shape, read, Backend, ShowSpec, TestApp};
use boxoffice::accounts::TokenIssuer;
use boxoffice::clock::Clock;
use reqwest::Method;
use serde_json::json;

enum Token {
    None,
    Buyer,
    Forged,
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    token: Token,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    kind: &'static str,
    field: Option<&'static str>,
}

impl Case {
    fn reserve(name: &'static str, body: String, status: u16, kind: &'static str) -> Self {
        Self {
            name,
            method: Method::POST,
            path: "/api/v1/bookings/reserve".into(),
            token: Token::Buyer,
            content_type: Some("application/json"),
            body: Some(body.into_bytes()),
            status,
            kind,
            field: None,
        }
    }

    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    fn token(mut self, token: Token) -> Self {
        self.token = token;
        self
    }

    fn content_type(mut self, ct: Option<&'static str>) -> Self {
        self.content_type = ct;
        self
    }

    fn get(name: &'static str, path: String, status: u16, kind: &'static str) -> Self {
        Self {
            name,
            method: Method::GET,
            path,
            token: Token::Buyer,
            content_type: None,
            body: None,
            status,
            kind,
            field: None,
        }
    }
}

const VALIDATION: &str = "/problems/validation";

#[tokio::test]
async fn bad_requests_get_problems_and_take_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 10,
            per_user_limit: Some(4),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    // A little real activity first, so "unchanged" means something.
    let kept = app.hold(&buyer.token, &show, 1).await;
    let sales_before = app.sales(&show).await;
    let view_before = app
        .get(&format!("/api/v1/shows/{}", show.show_id), None)
        .await
        .body;
    let outbox_before = app.outbox().await.len();

    let (s, z) = (show.show_id.clone(), show.zone_id.clone());
    let with = |quantity: serde_json::Value| {
        json!({"show_id": s, "zone_id": z, "quantity": quantity}).to_string()
    };
    let unknown = uuid::Uuid::now_v7().to_string();
    // Same claims, signed with a key the server does not know.
    let forged = TokenIssuer::new(b"not-the-server-key-not-the-server-key")
        .issue(buyer.id, buyer.role, app.clock.now())
        .unwrap()
        .0;

    let cases = vec![
        Case::reserve(
            "truncated JSON",
            format!(r#"{{"show_id": "{s}", "zone_id": "#),
            400,
            "/problems/malformed-request",
        ),
        Case::reserve(
            "not JSON",
            "quantity=1".into(),
            400,
            "/problems/malformed-request",
        ),
        Case::reserve(
            "trailing garbage",
            format!("{} xyz", with(json!(1))),
            400,
            "/problems/malformed-request",
        ),
        Case::reserve(
            "unknown field",
            json!({"show_id": s, "zone_id": z, "quantity": 1, "seat": "A12"}).to_string(),
            422,
            VALIDATION,
        )
        .field("seat"),
        Case::reserve("quantity 0", with(json!(0)), 422, VALIDATION).field("quantity"),
        Case::reserve("quantity -1", with(json!(-1)), 422, VALIDATION).field("quantity"),
        Case::reserve("quantity above the limit", with(json!(5)), 422, VALIDATION)
            .field("quantity"),
        Case::reserve("huge quantity", with(json!(1u64 << 40)), 422, VALIDATION).field("quantity"),
        Case::reserve("quantity as text", with(json!("two")), 422, VALIDATION).field("quantity"),
        Case::reserve("fractional quantity", with(json!(1.5)), 422, VALIDATION).field("quantity"),
        Case::reserve(
            "missing quantity",
            json!({"show_id": s, "zone_id": z}).to_string(),
            422,
            VALIDATION,
        ),
        Case::reserve(
            "show id of the wrong type",
            json!({"show_id": 42, "zone_id": z, "quantity": 1}).to_string(),
            422,
            VALIDATION,
        )
        .field("show_id"),
        Case::reserve(
            "malformed show id",
            json!({"show_id": "not-a-uuid", "zone_id": z, "quantity": 1}).to_string(),
            422,
            VALIDATION,
        )
        .field("show_id"),
        Case::reserve(
            "unknown show",
            json!({"show_id": unknown, "zone_id": z, "quantity": 1}).to_string(),
            404,
            "/problems/not-found",
        ),
        Case::reserve(
            "unknown zone",
            json!({"show_id": s, "zone_id": unknown, "quantity": 1}).to_string(),
            404,
            "/problems/not-found",
        ),
        Case::reserve("no token", with(json!(1)), 401, "/problems/unauthorized").token(Token::None),
        Case::reserve(
            "forged token",
            with(json!(1)),
            401,
            "/problems/unauthorized",
        )
        .token(Token::Forged),
        Case::reserve(
            "text/plain body",
            with(json!(1)),
            415,
            "/problems/unsupported-media-type",
        )
        .content_type(Some("text/plain")),
        Case::reserve(
            "no content type",
            with(json!(1)),
            415,
            "/problems/unsupported-media-type",
        )
        .content_type(None),
        Case::reserve(
            "body over 64 KiB",
            format!(
                r#"{{"show_id": "{s}", "zone_id": "{z}", "quantity": 1, "pad": "{}"}}"#,
                "x".repeat(70 * 1024)
            ),
            413,
            "/problems/payload-too-large",
        ),
        Case::get(
            "malformed id in the path",
            "/api/v1/bookings/not-a-uuid".into(),
            400,
            "/problems/malformed-request",
        ),
        Case::get(
            "malformed show id in the path",
            "/api/v1/shows/12345".into(),
            400,
            "/problems/malformed-request",
        ),
        Case::get(
            "unknown route",
            "/api/v1/no-such-thing".into(),
            404,
            "/problems/not-found",
        ),
        Case::get(
            "unknown booking",
            format!("/api/v1/bookings/{unknown}"),
            404,
            "/problems/not-found",
        ),
        Case {
            method: Method::DELETE,
            ..Case::get(
                "wrong method",
                "/api/v1/bookings/reserve".into(),
                405,
                "/problems/method-not-allowed",
            )
        },
        Case {
            method: Method::PATCH,
            ..Case::get(
                "wrong method on a collection",
                "/api/v1/events".into(),
                405,
                "/problems/method-not-allowed",
            )
        },
        Case {
            method: Method::POST,
            path: format!("/api/v1/bookings/{kept}/confirm"),
            ..Case::get(
                "confirm with a forged token",
                String::new(),
                401,
                "/problems/unauthorized",
            )
        }
        .token(Token::Forged),
        Case {
            method: Method::POST,
            path: format!("/api/v1/bookings/{kept}/cancel"),
            ..Case::get(
                "cancel without a token",
                String::new(),
                401,
                "/problems/unauthorized",
            )
        }
        .token(Token::None),
        Case::reserve(
            "quantity above the schema maximum",
            with(json!(101)),
            422,
            VALIDATION,
        )
        .field("quantity"),
        Case::reserve(
            "a struct written as an array",
            json!([s, z, 1]).to_string(),
            422,
            VALIDATION,
        )
        .field("body"),
        Case::reserve("quantity as null", with(json!(null)), 422, VALIDATION).field("quantity"),
        Case::reserve("quantity 1.5e0", with(json!(1.5e0)), 422, VALIDATION).field("quantity"),
        Case::get(
            "a status the enum does not list",
            "/api/v1/bookings?status=Held".into(),
            422,
            VALIDATION,
        )
        .field("status"),
        Case::get(
            "an empty status in the list",
            "/api/v1/bookings?status=held,,confirmed".into(),
            422,
            VALIDATION,
        )
        .field("status"),
        Case::get(
            "a category in the wrong case",
            "/api/v1/events?category=Concert".into(),
            422,
            VALIDATION,
        )
        .field("category"),
        Case::get(
            "a date that is not RFC 3339",
            "/api/v1/events?from=2027-01-01".into(),
            422,
            VALIDATION,
        )
        .field("from"),
        Case::get(
            "search text over 100 characters",
            format!("/api/v1/events?q={}", "a".repeat(101)),
            422,
            VALIDATION,
        )
        .field("q"),
        Case::get(
            "per_page above the maximum",
            "/api/v1/bookings/pending?per_page=101".into(),
            422,
            VALIDATION,
        )
        .field("per_page"),
        Case::get(
            "bad paging",
            "/api/v1/bookings?page=-1".into(),
            422,
            VALIDATION,
        )
        .field("page"),
        Case::get(
            "unknown query parameter",
            "/api/v1/bookings?sort=asc".into(),
            422,
            VALIDATION,
        ),
    ];

    for case in cases {
        let mut req = app.client.request(case.method.clone(), app.url(&case.path));
        match case.token {
            Token::None => {}
            Token::Buyer => req = req.bearer_auth(&buyer.token),
            Token::Forged => req = req.bearer_auth(&forged),
        }
        if let Some(ct) = case.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(body) = case.body.clone() {
            req = req.body(body);
        }
        let r = read(req.send().await.expect("answered")).await;
        assert_eq!(
            r.status.as_u16(),
            case.status,
            "{}: unexpected status; body: {}",
            case.name,
            r.text
        );
        assert_problem_shape(&r);
        assert_eq!(r.body["type"], case.kind, "{}: {}", case.name, r.text);
        if let Some(field) = case.field {
            assert!(
                r.error_fields().iter().any(|f| f == field),
                "{}: expected a field error on {field}: {}",
                case.name,
                r.text
            );
        }
    }

    // Nothing was taken, released or recorded.
    assert_eq!(app.sales(&show).await, sales_before);
    let view_after = app
        .get(&format!("/api/v1/shows/{}", show.show_id), None)
        .await
        .body;
    assert_eq!(view_after, view_before);
    assert_eq!(app.outbox().await.len(), outbox_before);
    let mine = app.get("/api/v1/bookings", Some(&buyer.token)).await;
    assert_eq!(mine.expect(200)["total"], 1);
    assert_eq!(
        app.get(&format!("/api/v1/bookings/{kept}"), Some(&buyer.token))
            .await
            .body["status"],
        "held"
    );
}

/// What the schema forbids in the catalog is refused with a 422 naming the field, and
/// what it allows is accepted: the boundaries of the document are the server's.
#[tokio::test]
async fn the_catalog_refuses_exactly_what_the_schema_forbids() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let org = app.organizer().await;
    let event = |title: Value, category: &str| json!({"title": title, "category": category, "city": "Lyon"});
    use serde_json::Value;
    for (body, field) in [
        (event(json!("   "), "concert"), "title"),
        (event(json!("\u{2003}\t"), "concert"), "title"),
        (event(json!("Jazz\nNight"), "concert"), "title"),
        (event(json!("x".repeat(201)), "concert"), "title"),
        (event(json!(" Jazz "), "Concert"), "category"),
        (event(json!(" Jazz "), "opera"), "category"),
    ] {
        app.post("/api/v1/events", Some(&org.token), &body)
            .await
            .expect_field_error(field);
    }
    // Surrounding white space is allowed by the pattern and dropped.
    let created = app
        .post(
            "/api/v1/events",
            Some(&org.token),
            &event(json!(" Jazz "), "concert"),
        )
        .await;
    assert_eq!(created.expect(201)["title"], "Jazz");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let shows = format!("/api/v1/events/{id}/shows");
    let show = |patch: Value| {
        let mut b = json!({"venue": "Hall", "starts_at": "2031-05-01T20:00:00Z",
            "zones": [{"name": "Floor", "price_minor": 100, "currency": "EUR", "capacity": 10}]});
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (patch, field) in [
        (json!({"starts_at": "2031-05-01"}), "starts_at"),
        (json!({"starts_at": " 2031-05-01T20:00:00Z"}), "starts_at"),
        (json!({"hold_ttl_secs": 29}), "hold_ttl_secs"),
        (json!({"hold_ttl_secs": 3601}), "hold_ttl_secs"),
        (json!({"per_user_limit": 0}), "per_user_limit"),
        (json!({"per_user_limit": 101}), "per_user_limit"),
        (json!({"per_user_limit": 2.5}), "per_user_limit"),
        (
            json!({"zones": [{"name": "Floor", "price_minor": 100, "currency": "eur", "capacity": 10}]}),
            "zones[0].currency",
        ),
        (
            json!({"zones": [{"name": "Floor", "price_minor": -1, "currency": "EUR", "capacity": 10}]}),
            "zones[0].price_minor",
        ),
        (
            json!({"zones": [{"name": "Floor", "price_minor": 1, "currency": "EUR", "capacity": 10_000_001}]}),
            "zones[0].capacity",
        ),
    ] {
        app.post(&shows, Some(&org.token), &show(patch.clone()))
            .await
            .expect_field_error(field);
    }
    // The schema's integers include 3.0; the bounds themselves are accepted.
    let ok = app
        .post(&shows, Some(&org.token), &show(json!({"hold_ttl_secs": 30, "per_user_limit": 100.0,
            "zones": [{"name": "Floor", "price_minor": 100000000, "currency": "EUR", "capacity": 10.0}]})))
        .await;
    let ok = ok.expect(201);
    assert_eq!(
        (ok["hold_ttl_secs"].as_i64(), ok["per_user_limit"].as_i64()),
        (Some(30), Some(100))
    );
    assert_eq!(ok["zones"][0]["capacity"], 10);
}

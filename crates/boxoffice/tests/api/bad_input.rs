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

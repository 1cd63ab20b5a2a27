//! Error policy of the HTTP API: every error is an RFC 9457 `application/problem+json`
//! document with a stable `type` (`/problems/<slug>`), a `title`, the `status`, a human
//! `detail` and, for invalid input, the wrong fields. Internal causes are logged with
//! the request id and never returned.
use crate::error::{ConflictKind, Error};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use boxoffice_domain::FieldError;
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, Type};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Problem types of a 503: the store or the writer is unavailable (also while the
/// server shuts down, a background task failed, or a request ran past the timeout).
pub const UNAVAILABLE_TYPES: &[&str] = &["/problems/unavailable"];

#[derive(Debug, Serialize)]
pub struct Problem {
    /// Stable identifier of the problem kind, e.g. `/problems/sold-out`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Invalid fields, by JSON path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every conflict kind, in declaration order. The match is exhaustive, so a new kind
/// does not compile until it is listed here and gets its problem type documented.
fn next_conflict(kind: Option<ConflictKind>) -> Option<ConflictKind> {
    use ConflictKind as C;
    match kind {
        None => Some(C::SoldOut),
        Some(C::SoldOut) => Some(C::LimitReached),
        Some(C::LimitReached) => Some(C::SaleNotOpen),
        Some(C::SaleNotOpen) => Some(C::SaleClosed),
        Some(C::SaleClosed) => Some(C::HoldExpired),
        Some(C::HoldExpired) => Some(C::InvalidState),
        Some(C::InvalidState) => Some(C::Duplicate),
        Some(C::Duplicate) => Some(C::InUse),
        Some(C::InUse) => Some(C::LastOwner),
        Some(C::LastOwner) => Some(C::RequestInFlight),
        Some(C::RequestInFlight) => Some(C::PaymentRequired),
        Some(C::PaymentRequired) => Some(C::PaymentInProgress),
        Some(C::PaymentInProgress) => Some(C::DataConflict),
        Some(C::DataConflict) => Some(C::SeatTaken),
        Some(C::SeatTaken) => Some(C::NoAdjacentSeats),
        Some(C::NoAdjacentSeats) => Some(C::QueueClosed),
        Some(C::QueueClosed) => Some(C::QueueFull),
        Some(C::QueueFull) => None,
    }
}

/// Every conflict kind.
pub fn conflict_kinds() -> Vec<ConflictKind> {
    std::iter::successors(next_conflict(None), |k| next_conflict(Some(*k))).collect()
}

impl Error {
    /// One error of each kind the API answers with. The match in `sample_of` is
    /// exhaustive, so a new variant has to be added here to compile.
    pub fn samples() -> Vec<Error> {
        fn sample_of(e: &Error) {
            match e {
                Error::Validation(_)
                | Error::BadRequest(_)
                | Error::Unauthorized(_)
                | Error::Forbidden(_)
                | Error::QueuePass(_)
                | Error::MfaRequired
                | Error::NotFound(_)
                | Error::Conflict { .. }
                | Error::IdempotencyMismatch
                | Error::PayloadTooLarge(_)
                | Error::UnsupportedMediaType(_)
                | Error::Unavailable(_)
                | Error::PaymentUnavailable { .. }
                | Error::MethodNotAllowed
                | Error::RateLimited { .. }
                | Error::Internal(_) => {}
            }
        }
        let mut out = vec![
            Error::Validation(Vec::new()),
            Error::BadRequest(String::new()),
            Error::Unauthorized(""),
            Error::Forbidden(""),
            Error::QueuePass(String::new()),
            Error::MfaRequired,
            Error::NotFound(""),
            Error::IdempotencyMismatch,
            Error::PayloadTooLarge(String::new()),
            Error::UnsupportedMediaType(String::new()),
            Error::Unavailable(String::new()),
            Error::PaymentUnavailable {
                retry_after_secs: 1,
            },
            Error::MethodNotAllowed,
            Error::RateLimited {
                retry_after_secs: 1,
            },
            Error::Internal(anyhow::anyhow!("sample")),
        ];
        out.extend(
            conflict_kinds()
                .into_iter()
                .map(|k| Error::conflict(k, String::new())),
        );
        out.iter().for_each(sample_of);
        out
    }
}

/// Every problem type the API can answer with, sorted.
pub fn all_types() -> Vec<String> {
    let mut types: Vec<String> = Error::samples()
        .iter()
        .map(|e| e.to_problem().kind)
        .chain(UNAVAILABLE_TYPES.iter().map(|t| t.to_string()))
        .collect();
    types.sort();
    types.dedup();
    types
}

/// The title that goes with a problem type.
pub fn title_of(kind: &str) -> Option<&'static str> {
    Error::samples()
        .iter()
        .map(Error::classify)
        .find(|(_, slug, _)| kind.strip_prefix("/problems/") == Some(*slug))
        .map(|(_, _, title)| title)
}

/// The `Problem` schema of the OpenAPI document, its `type` a closed set.
pub fn problem_schema() -> Object {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let field_error = ObjectBuilder::new()
        .property("field", string().description(Some("JSON path of the field, e.g. `zones[1].capacity`, or the parameter or header name.")))
        .property("message", string())
        .required("field")
        .required("message");
    ObjectBuilder::new()
        .description(Some(
            "RFC 9457 problem document; every error answer is one.",
        ))
        .property(
            "type",
            string()
                .enum_values(Some(all_types()))
                .description(Some("Stable identifier of the problem kind.")),
        )
        .property("title", string())
        .property(
            "status",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(400))
                .maximum(Some(599)),
        )
        .property("detail", string())
        .property(
            "errors",
            ArrayBuilder::new()
                .items(field_error)
                .description(Some("Invalid fields, by JSON path (422 only).")),
        )
        .property(
            "request_id",
            string().description(Some("The request's X-Request-Id, when it is printable.")),
        )
        .property(
            "trace_id",
            string()
                .pattern(Some("^[0-9a-f]{32}$"))
                .description(Some("The W3C trace id of the request (the caller's `traceparent` when it sent one), as in the server's logs and traces.")),
        )
        .required("type")
        .required("title")
        .required("status")
        .required("detail")
        .examples([json!({
            "type": "/problems/sold-out",
            "title": "Sold out",
            "status": 409,
            "detail": "only 1 tickets left",
            "request_id": "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77"
        })])
        .build()
}

impl Error {
    /// The problem slug alone: a bounded label for metrics.
    pub fn reason(&self) -> &'static str {
        self.classify().1
    }

    /// HTTP status, problem slug and title of this error.
    pub fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Error::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid input",
            ),
            Error::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
            ),
            Error::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            Error::QueuePass(_) => (
                StatusCode::FORBIDDEN,
                "queue-pass-invalid",
                "Queue pass refused",
            ),
            Error::MfaRequired => (
                StatusCode::FORBIDDEN,
                "mfa-required",
                "Multi-factor authentication required",
            ),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Error::Conflict { kind, .. } => {
                (StatusCode::CONFLICT, kind.slug(), conflict_title(*kind))
            }
            Error::IdempotencyMismatch => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
            ),
            Error::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            Error::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Error::PaymentUnavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "payment-unavailable",
                "Payment provider unavailable",
            ),
            Error::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Error::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (status, slug, title) = self.classify();
        let detail = match self {
            Error::Internal(_) => "an unexpected error occurred; it has been logged".to_string(),
            Error::Validation(errors) => errors
                .iter()
                .map(|e| format!("{} {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        };
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors: match self {
                Error::Validation(errors) => errors.clone(),
                Error::QueuePass(message) => {
                    vec![FieldError::new(crate::queue::pass::HEADER, message.clone())]
                }
                _ => Vec::new(),
            },
        }
    }
}

fn conflict_title(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::SoldOut => "Sold out",
        ConflictKind::LimitReached => "Per-buyer limit reached",
        ConflictKind::SaleNotOpen => "Sale not open yet",
        ConflictKind::SaleClosed => "Sale closed",
        ConflictKind::HoldExpired => "Hold expired",
        ConflictKind::InvalidState => "Not possible in the current state",
        ConflictKind::Duplicate => "Already exists",
        ConflictKind::InUse => "Still in use",
        ConflictKind::LastOwner => "An organization keeps an owner",
        ConflictKind::RequestInFlight => "Request still in progress",
        ConflictKind::PaymentRequired => "Payment required",
        ConflictKind::PaymentInProgress => "Payment in progress",
        ConflictKind::DataConflict => "Conflicts with existing data",
        ConflictKind::SeatTaken => "Seat taken",
        ConflictKind::NoAdjacentSeats => "Not enough seats together",
        ConflictKind::QueueClosed => "Queue not taking places",
        ConflictKind::QueueFull => "Queue full",
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Internal(e) = &self {
            tracing::error!(error = ?e, "request failed");
        }
        let problem = self.to_problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if matches!(self, Error::Unauthorized(_)) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Error::RateLimited { retry_after_secs }
        | Error::PaymentUnavailable { retry_after_secs } = self
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_is_stable() {
        let cases: Vec<(Error, u16, &str)> = vec![
            (
                Error::field("quantity", "must be at least 1"),
                422,
                "/problems/validation",
            ),
            (
                Error::BadRequest("x".into()),
                400,
                "/problems/malformed-request",
            ),
            (Error::Unauthorized("x"), 401, "/problems/unauthorized"),
            (Error::Forbidden("x"), 403, "/problems/forbidden"),
            (
                Error::QueuePass("was revoked".into()),
                403,
                "/problems/queue-pass-invalid",
            ),
            (Error::MfaRequired, 403, "/problems/mfa-required"),
            (Error::NotFound("show"), 404, "/problems/not-found"),
            (
                Error::conflict(ConflictKind::SoldOut, "x"),
                409,
                "/problems/sold-out",
            ),
            (
                Error::conflict(ConflictKind::LimitReached, "x"),
                409,
                "/problems/limit-reached",
            ),
            (
                Error::conflict(ConflictKind::SaleNotOpen, "x"),
                409,
                "/problems/sale-not-open",
            ),
            (
                Error::IdempotencyMismatch,
                422,
                "/problems/idempotency-key-reused",
            ),
            (
                Error::PayloadTooLarge("x".into()),
                413,
                "/problems/payload-too-large",
            ),
            (
                Error::UnsupportedMediaType("x".into()),
                415,
                "/problems/unsupported-media-type",
            ),
            (Error::Unavailable("x".into()), 503, "/problems/unavailable"),
            (Error::MethodNotAllowed, 405, "/problems/method-not-allowed"),
            (
                Error::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                "/problems/rate-limited",
            ),
            (
                Error::Internal(anyhow::anyhow!("db password is hunter2")),
                500,
                "/problems/internal",
            ),
        ];
        for (err, status, kind) in cases {
            let p = err.to_problem();
            assert_eq!((p.status, p.kind.as_str()), (status, kind));
            assert!(!p.detail.contains("hunter2"), "internal causes never leak");
        }
    }

    #[test]
    fn every_problem_type_has_a_title() {
        let types = all_types();
        assert!(types.contains(&"/problems/sold-out".to_string()));
        assert!(types.contains(&"/problems/request-in-flight".to_string()));
        for t in &types {
            assert!(title_of(t).is_some(), "{t}");
        }
        assert_eq!(
            conflict_kinds().len(),
            types
                .iter()
                .filter(|t| {
                    Error::samples()
                        .iter()
                        .any(|e| matches!(e, Error::Conflict { .. }) && &e.to_problem().kind == *t)
                })
                .count()
        );
    }

    #[test]
    fn responses_are_problem_json_with_field_errors() {
        let res = Error::field("quantity", "must be at least 1").into_response();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let p = Error::field("quantity", "must be at least 1").to_problem();
        assert_eq!(p.errors[0].field, "quantity");
        let res = Error::Unauthorized("x").into_response();
        assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let res = Error::RateLimited {
            retry_after_secs: 12,
        }
        .into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "12");
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}

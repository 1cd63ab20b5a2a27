//! Extractors that turn every malformed input into a problem response naming what is
//! wrong: the JSON body (content type, size, syntax, field types, unknown fields), path
//! and query parameters, and the bearer token.
use crate::accounts::Principal;
use crate::state::AppState;
use crate::error::Error;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// A JSON request body, parsed with the path of the failing field kept.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(Error::UnsupportedMediaType(format!(
                "expected Content-Type: application/json, got {}",
                if ct.is_empty() { "none" } else { ct }
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge("the request body exceeds the size limit".into())
            } else {
                Error::BadRequest(format!("could not read the request body: {e}"))
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Deserializes `bytes`, mapping syntax errors to 400 and shape errors to 422 with
/// the field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                let parent = if path == "." || path.is_empty() {
                    None
                } else {
                    Some(path)
                };
                // Name an unknown field itself: the path may already end with it
                // (serde_path_to_error records the key) or stop at its parent.
                let unknown = message
                    .strip_prefix("unknown field `")
                    .and_then(|r| r.split('`').next());
                let field = match (parent, unknown) {
                    (Some(p), Some(u)) if p == u || p.ends_with(&format!(".{u}")) => p,
                    (Some(p), Some(u)) => format!("{p}.{u}"),
                    (None, Some(u)) => u.to_string(),
                    (Some(p), None) => p,
                    (None, None) => "body".to_string(),
                };
                Error::field(&field, message)
            }
            _ => Error::BadRequest(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| Error::BadRequest(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Path parameters; a malformed id is a 400 naming the parameter.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

impl From<PathRejection> for Error {
    fn from(r: PathRejection) -> Self {
        Error::BadRequest(format!("invalid path parameter: {}", r.body_text()))
    }
}

/// Query parameters; a malformed value is a 422 naming the parameter.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        let detail = text.trim_start_matches("Failed to deserialize query string: ");
        let field = detail
            .split(':')
            .next()
            .filter(|f| !f.contains(' '))
            .unwrap_or("query");
        Error::field(field, detail.to_string())
    }
}

/// The caller, proven by `Authorization: Bearer <access token>`.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        // Already verified by a layer in front (idempotency scopes keys per caller).
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(Auth(*p));
        }
        let token = bearer(parts).ok_or(Error::Unauthorized(
            "send Authorization: Bearer <access token>",
        ))?;
        state.accounts.authenticate(token).map(Auth)
    }
}

pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        quantity: i64,
        zone: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        id: String,
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Validation(v) => v[0].field.clone(),
            other => panic!("expected validation, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"quantity":"2","zone":{"id":"a"}}"#).unwrap_err()),
            "quantity"
        );
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"quantity":2,"zone":{"id":1}}"#).unwrap_err()),
            "zone.id"
        );
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"quantity":2,"zone":{"id":"a"},"x":1}"#).unwrap_err()),
            "x"
        );
        assert_eq!(field_of(parse_json::<Body>(br#"[1]"#).unwrap_err()), "body");
        assert!(matches!(
            parse_json::<Body>(br#"{"quantity":2,"#),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"quantity":2,"zone":{"id":"a"}} trailing"#),
            Err(Error::BadRequest(_))
        ));
        assert!(parse_json::<Body>(br#"{"quantity":2,"zone":{"id":"a"}}"#).is_ok());
    }
}

//! Extractors that turn every malformed input into a problem response naming what is
//! wrong: the JSON body (content type, size, syntax, field types, unknown fields), path
//! and query parameters, and the bearer token.
use crate::accounts::Principal;
use crate::error::Error;
use crate::state::AppState;
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
/// the field path. Every request body is a JSON object: serde would also fill a
/// struct from an array by position, which no schema allows.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(Error::field("body", "must be a JSON object"));
    }
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

/// A JSON number that is an integer, written either way JSON Schema allows (`3` or
/// `3.0`); anything else is refused as serde would refuse it.
pub mod integer {
    use serde::de::{Deserializer, Error, Unexpected};
    use serde::Deserialize;

    fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match serde_json::Number::deserialize(d)? {
            n if n.is_i64() => n.as_i64().ok_or_else(|| D::Error::custom("out of range")),
            n if n.is_u64() => Err(D::Error::invalid_value(
                Unexpected::Unsigned(n.as_u64().unwrap_or(u64::MAX)),
                &"an integer that fits 64 bits",
            )),
            n => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(f as i64)
                } else {
                    Err(D::Error::invalid_type(Unexpected::Float(f), &"an integer"))
                }
            }
        }
    }

    /// For `i64` fields.
    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        whole(d)
    }

    /// For `u32` fields.
    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let n = whole(d)?;
        u32::try_from(n).map_err(|_| D::Error::invalid_value(Unexpected::Signed(n), &"a u32"))
    }

    /// For `i32` fields.
    pub fn i32<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        let n = whole(d)?;
        i32::try_from(n).map_err(|_| D::Error::invalid_value(Unexpected::Signed(n), &"an i32"))
    }

    /// For optional `i32` fields (`null` means absent).
    pub fn opt_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(|n| i32(n).map_err(D::Error::custom))
            .transpose()
    }

    /// For optional `u32` fields (`null` means absent).
    pub fn opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(|n| u32(n).map_err(D::Error::custom))
            .transpose()
    }

    /// For optional `u64` fields (`null` means absent).
    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(|n| {
                let v = whole(n).map_err(D::Error::custom)?;
                u64::try_from(v)
                    .map_err(|_| D::Error::invalid_value(Unexpected::Signed(v), &"a u64"))
            })
            .transpose()
    }

    /// For lists of `i32`.
    pub fn vec_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i32>, D::Error> {
        Vec::<serde_json::Number>::deserialize(d)?
            .into_iter()
            .map(|n| i32(n).map_err(D::Error::custom))
            .collect()
    }

    /// For optional `i64` fields (`null` means absent).
    pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(|n| whole(n).map_err(D::Error::custom))
            .transpose()
    }
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

/// An account, proven by `Authorization: Bearer <access token>`, and allowed by the
/// MFA policy (an account it asks for MFA without a second factor is refused here,
/// for every endpoint at once). API keys are refused: they act for an organization,
/// only on the routes that take [`Caller`].
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let AuthPendingMfa(who) = AuthPendingMfa::from_request_parts(parts, state).await?;
        state.mfa.policy().check(&who)?;
        Ok(Auth(who))
    }
}

/// An account, proven like [`Auth`] but exempt from the MFA policy: only for what an
/// account needs to enrol (its MFA endpoints and `GET /auth/me`).
pub struct AuthPendingMfa(pub Principal);

impl FromRequestParts<AppState> for AuthPendingMfa {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let who = verified(parts, state).await?;
        if who.key.is_some() {
            return Err(Error::Unauthorized(
                "this operation needs an account's access token; API keys are accepted by organization endpoints only",
            ));
        }
        Ok(AuthPendingMfa(who))
    }
}

/// An account (held to the MFA policy) or an organization's API key, both as
/// `Authorization: Bearer`.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let who = verified(parts, state).await?;
        if who.key.is_none() {
            state.mfa.policy().check(&who)?;
        }
        Ok(Caller(who))
    }
}

/// The bearer's principal: as verified by a layer in front (rate limits, idempotency)
/// or verified here.
async fn verified(parts: &Parts, state: &AppState) -> Result<Principal, Error> {
    let who = match parts.extensions.get::<Principal>() {
        Some(p) => *p,
        None => {
            let token = bearer(parts).ok_or(Error::Unauthorized(
                "send Authorization: Bearer <access token or API key>",
            ))?;
            authenticate(state, token).await?
        }
    };
    crate::http::observe::record_account(&who.user);
    Ok(who)
}

/// Verifies a bearer credential: an API key (`bo_…`) against the store, anything
/// else as an access token, without a store lookup.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, Error> {
    if crate::organizations::keys::is_api_key(token) {
        state.organizations.authenticate_key(token).await
    } else {
        state.accounts.authenticate(token)
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
        assert_eq!(
            field_of(parse_json::<Body>(br#"[2, {"id":"a"}]"#).unwrap_err()),
            "body"
        );
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

    #[derive(Debug, Deserialize)]
    struct Counts {
        #[serde(deserialize_with = "integer::i64")]
        n: i64,
        #[serde(default, deserialize_with = "integer::opt_i64")]
        m: Option<i64>,
        #[serde(default, deserialize_with = "integer::u32")]
        u: u32,
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let c: Counts = parse_json(br#"{"n": 3.0, "m": -2, "u": 7.0}"#).unwrap();
        assert_eq!((c.n, c.m, c.u), (3, Some(-2), 7));
        let c: Counts = parse_json(br#"{"n": 3, "m": null}"#).unwrap();
        assert_eq!((c.n, c.m), (3, None));
        for bad in [
            &br#"{"n": 3.5}"#[..],
            br#"{"n": "3"}"#,
            br#"{"n": 1e300}"#,
            br#"{"n": 18446744073709551615}"#,
            br#"{"n": 1, "u": -1}"#,
            br#"{"n": 1, "m": 0.25}"#,
        ] {
            assert!(
                matches!(parse_json::<Counts>(bad), Err(Error::Validation(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

//! The published public keys, as a JWKS document: what an edge (CDN worker, gateway,
//! gate scanner) fetches, caches and verifies our signatures with, offline.
use super::Jwks;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use utoipa_axum::{router::OpenApiRouter, routes};

/// How long a fetched key set may be cached: well below the rotation overlap.
const CACHE_CONTROL: &str = "public, max-age=300";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(keys))
        .routes(routes!(well_known))
}

/// The public keys in service (OKP/Ed25519, `alg: EdDSA`), each with its `kid` and
/// `purpose` (`queue-pass`, `ticket`); keys that were rotated out stay listed for the
/// overlap. Verify a token with the key its header's `kid` names.
#[utoipa::path(get, path = "/api/v1/keys", operation_id = "getSigningKeys", tag = "keys",
    responses((status = 200, body = Jwks)))]
async fn keys(
    State(s): State<AppState>,
) -> ([(header::HeaderName, &'static str); 1], axum::Json<Jwks>) {
    (
        [(header::CACHE_CONTROL, CACHE_CONTROL)],
        axum::Json(s.keys.jwks()),
    )
}

/// The same key set at its well-known address (RFC 8615), outside the API's rate limits.
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "getJwks", tag = "keys",
    responses((status = 200, body = Jwks)))]
async fn well_known(
    State(s): State<AppState>,
) -> ([(header::HeaderName, &'static str); 1], axum::Json<Jwks>) {
    (
        [(header::CACHE_CONTROL, CACHE_CONTROL)],
        axum::Json(s.keys.jwks()),
    )
}

//! The dead-letter API under `/api/v1/admin/dead-letters`: list, inspect, replay and
//! discard (admins; the service checks).
use super::dead_letters::{DeadLetterQuery, DeadLetterView, Operator};
use crate::error::Result;
use crate::http::extract::{Auth, Path, Query};
use crate::http::paging::Paged;
use crate::state::AppState;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// Letters of this consumer (`notifications`, `audit` …).
    #[param(schema_with = crate::http::contract::consumer_name)]
    pub consumer: Option<String>,
    /// Letters in this state.
    #[param(schema_with = crate::http::contract::dead_letter_status)]
    pub status: Option<String>,
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
    pub per_page: Option<u32>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(replay))
        .routes(routes!(discard))
}

/// Dead letters, most recently failed first (admins only).
#[utoipa::path(get, path = "/api/v1/admin/dead-letters", operation_id = "listDeadLetters", tag = "admin", security(("bearer" = [])),
    params(DeadLetterParams),
    responses((status = 200, body = Paged<DeadLetterView>)))]
async fn list(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<DeadLetterParams>,
) -> Result<axum::Json<Paged<DeadLetterView>>> {
    let q = DeadLetterQuery {
        consumer: q.consumer,
        status: q.status,
        page: q.page,
        per_page: q.per_page,
    };
    Ok(axum::Json(
        s.dead_letters.list(Operator::Caller(who), q).await?,
    ))
}

/// One dead letter with its event and last error (admins only).
#[utoipa::path(get, path = "/api/v1/admin/dead-letters/{id}", operation_id = "getDeadLetter", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = DeadLetterView)))]
async fn get(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<axum::Json<DeadLetterView>> {
    Ok(axum::Json(
        s.dead_letters
            .get(Operator::Caller(who), &id.to_string())
            .await?,
    ))
}

/// Runs the consumer's handler on the letter's event now (admins only). Success
/// answers the letter `replayed`; a failure answers it still `open`, with the new
/// error and one more attempt.
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{id}/replay", operation_id = "replayDeadLetter", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = DeadLetterView)))]
async fn replay(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<axum::Json<DeadLetterView>> {
    Ok(axum::Json(
        s.dead_letters
            .replay(Operator::Caller(who), &id.to_string())
            .await?,
    ))
}

/// Gives up on an open letter for good (admins only).
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{id}/discard", operation_id = "discardDeadLetter", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = DeadLetterView)))]
async fn discard(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<axum::Json<DeadLetterView>> {
    Ok(axum::Json(
        s.dead_letters
            .discard(Operator::Caller(who), &id.to_string())
            .await?,
    ))
}

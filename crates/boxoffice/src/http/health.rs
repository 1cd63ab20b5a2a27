//! Liveness (the process answers) and readiness (the store answers too), for load
//! balancers and orchestrators.
use crate::state::AppState;
use crate::error::{Error, Result};
use crate::http::problem::Problem;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = Health)))]
async fn live() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The process can serve traffic: its store answers.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Problem, content_type = "application/problem+json")))]
async fn ready(State(s): State<AppState>) -> Result<axum::Json<Health>> {
    s.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        Error::Unavailable("the database does not answer".into())
    })?;
    Ok(axum::Json(Health { status: "ready" }))
}

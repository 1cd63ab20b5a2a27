//! Liveness (the process answers) and readiness (the store answers too), for load
//! balancers and orchestrators.
use crate::error::{Error, Result};
use crate::state::AppState;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(schema_with = crate::http::contract::health_status)]
    pub status: &'static str,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", operation_id = "liveness", tag = "health", responses((status = 200, body = Health)))]
async fn live() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The process can serve traffic: its background tasks run and its store answers.
#[utoipa::path(get, path = "/health/ready", operation_id = "readiness", tag = "health",
    responses((status = 200, body = Health)))]
async fn ready(State(s): State<AppState>) -> Result<axum::Json<Health>> {
    if let Some(reason) = s.health.failure() {
        return Err(Error::Unavailable(reason));
    }
    s.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        Error::Unavailable("the database does not answer".into())
    })?;
    Ok(axum::Json(Health { status: "ready" }))
}

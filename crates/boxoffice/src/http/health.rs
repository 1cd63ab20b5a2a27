//! Liveness (the process answers) and readiness (its background tasks run and every
//! dependency it uses answers: the store always, the Redis inventory, the SMTP server
//! and the payment gateway when configured), for load balancers, orchestrators and operators.
use crate::error::{Error, Result};
use crate::state::AppState;
use axum::extract::State;
use serde::Serialize;
use std::future::Future;
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// A dependency that does not answer within this long is down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(schema_with = crate::http::contract::health_status)]
    pub status: &'static str,
}

/// Readiness with what it checked.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(schema_with = crate::http::contract::readiness_status)]
    pub status: &'static str,
    pub checks: Vec<Check>,
}

/// One dependency as readiness found it.
#[derive(Serialize, ToSchema)]
pub struct Check {
    /// `tasks` (background tasks), `store`, `inventory` (Redis, in scaled mode),
    /// `smtp`, `payment_gateway`, `event_stream` (NATS, when relayed).
    #[schema(schema_with = crate::http::contract::dependency_name)]
    pub name: &'static str,
    #[schema(schema_with = crate::http::contract::dependency_status)]
    pub status: &'static str,
    /// Whether readiness fails when it is down; the others degrade one capability
    /// (mail is retried, checkout answers 503) without stopping the sale.
    pub required: bool,
    /// How long the probe took.
    #[schema(minimum = 0)]
    pub latency_ms: f64,
    /// Why it is down (absent when up; never null).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub detail: Option<String>,
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
/// Lists each dependency in use with its status and probe latency; a 503 names the
/// required ones that are down.
#[utoipa::path(get, path = "/health/ready", operation_id = "readiness", tag = "health",
    responses((status = 200, body = Readiness)))]
async fn ready(State(s): State<AppState>) -> Result<axum::Json<Readiness>> {
    let failure = s.health.failure();
    let tasks = Check {
        name: "tasks",
        status: if failure.is_some() { "down" } else { "up" },
        required: true,
        latency_ms: 0.0,
        detail: failure,
    };
    let (store, inventory, smtp, gateway, stream) = tokio::join!(
        probe("store", true, async {
            Some(s.store.ping().await.map_err(|e| {
                tracing::warn!(error = %e, "readiness: the store does not answer");
                "the database does not answer".to_owned()
            }))
        }),
        probe("inventory", true, s.booking.probe_inventory()),
        probe("smtp", false, async {
            s.mail
                .probe()
                .await
                .map(|r| r.map_err(|e| format!("{e:#}")))
        }),
        probe("payment_gateway", false, async {
            s.payments
                .probe_gateway()
                .await
                .map(|r| r.map_err(|e| e.to_string()))
        }),
        probe("event_stream", false, async {
            s.event_stream.as_ref().map(|r| r.probe())
        }),
    );
    let checks: Vec<Check> = [Some(tasks), store, inventory, smtp, gateway, stream]
        .into_iter()
        .flatten()
        .collect();
    let down: Vec<String> = checks
        .iter()
        .filter(|c| c.required && c.status == "down")
        .map(|c| format!("{}: {}", c.name, c.detail.as_deref().unwrap_or("down")))
        .collect();
    if !down.is_empty() {
        return Err(Error::Unavailable(format!(
            "not ready ({})",
            down.join("; ")
        )));
    }
    Ok(axum::Json(Readiness {
        status: "ready",
        checks,
    }))
}

/// Runs one probe under [`PROBE_TIMEOUT`]; `None` when the dependency is not in use.
async fn probe(
    name: &'static str,
    required: bool,
    check: impl Future<Output = Option<std::result::Result<(), String>>>,
) -> Option<Check> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(None) => return None,
        Ok(Some(r)) => r,
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    };
    Some(Check {
        name,
        status: if outcome.is_ok() { "up" } else { "down" },
        required,
        latency_ms: (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        detail: outcome.err(),
    })
}

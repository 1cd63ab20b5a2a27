//! The admin listener: `GET /metrics` in Prometheus text format, bound to localhost
//! by default and never on the public port, so figures of a sale are not public.
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

#[derive(Clone)]
struct Admin {
    state: AppState,
    handle: PrometheusHandle,
}

pub fn router(state: AppState, handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Admin { state, handle })
}

async fn metrics(State(admin): State<Admin>) -> impl IntoResponse {
    super::metrics::collect(&admin.state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        admin.handle.render(),
    )
}

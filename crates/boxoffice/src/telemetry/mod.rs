//! What operators see of a running server: logs (human-readable or JSON lines),
//! Prometheus metrics on an admin listener off the public port, and traces exported
//! over OTLP when an endpoint is configured.
pub mod admin;
pub mod exposition;
mod lines;
pub mod logs;
pub mod metrics;
pub mod top;
pub mod trace;

pub use logs::{init, Telemetry};

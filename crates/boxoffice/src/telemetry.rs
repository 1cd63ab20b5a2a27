//! Logging setup: human-readable or JSON lines, filtered by `RUST_LOG`.
use tracing_subscriber::EnvFilter;

/// `level` applies unless `RUST_LOG` says otherwise.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn,tower_http=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

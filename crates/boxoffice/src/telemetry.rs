//! Logging setup: human-readable or JSON lines, filtered by `RUST_LOG`. Commands whose
//! output is a report (the load test) log to stderr, so stdout stays the report.
use tracing_subscriber::EnvFilter;

/// `level` applies unless `RUST_LOG` says otherwise.
pub fn init(format: &str, level: &str, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn,tower_http=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match (format == "json", to_stderr) {
        (true, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (true, false) => builder.json().try_init(),
        (false, true) => builder.with_writer(std::io::stderr).try_init(),
        (false, false) => builder.try_init(),
    };
}

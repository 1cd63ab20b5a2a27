//! Logging and trace export setup: human-readable or JSON lines filtered by
//! `RUST_LOG`, plus an OpenTelemetry layer when `otlp_endpoint` is set. Commands whose
//! output is a report (the load test) log to stderr, so stdout stays the report.
//!
//! Lines are written by a thread of their own (see `lines`): a request never waits
//! on the terminal or the pipe. Past 32 MiB waiting (a burst the output cannot
//! take), lines are dropped rather than stalling the sale; the metrics still count
//! every request.
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How the process reports: log format and level, and where traces go.
pub struct Settings<'a> {
    /// `pretty` or `json`.
    pub format: &'a str,
    /// Applies unless `RUST_LOG` says otherwise.
    pub level: &'a str,
    pub to_stderr: bool,
    /// OTLP/HTTP collector base URL (`http://collector:4318`); `None`: no export.
    pub otlp_endpoint: Option<&'a str>,
    /// Share of new traces sampled (a caller's sampled flag is followed).
    pub sample_ratio: f64,
}

/// Flushes exported spans and waiting log lines when dropped (at the end of `main`).
#[must_use = "dropping it stops the trace exporter and the log writer"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    _lines: super::lines::LinesGuard,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("trace exporter did not flush: {e}");
            }
        }
    }
}

/// Installs the global subscriber. Must run outside the async runtime: the
/// exporter's HTTP client blocks on its own thread.
pub fn init(s: &Settings<'_>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},sqlx=warn,tower_http=warn", s.level)));
    let (output, terminal): (Box<dyn std::io::Write + Send>, bool) = if s.to_stderr {
        (Box::new(std::io::stderr()), std::io::stderr().is_terminal())
    } else {
        (Box::new(std::io::stdout()), std::io::stdout().is_terminal())
    };
    let (writer, lines) = super::lines::Lines::spawn(output);
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(terminal)
        .with_writer(writer);
    let fmt = if s.format == "json" {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let provider = match s.otlp_endpoint.map(exporter) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            eprintln!("traces will not be exported: {e:#}");
            None
        }
        None => None,
    };
    // Requests are sampled before their spans exist (see `trace`): this layer sees
    // only those in the sample.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("boxoffice"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
            .with_filter(tracing_subscriber::filter::filter_fn(|_| {
                super::trace::in_sample()
            }))
    });
    super::trace::set_exporting(otel.is_some(), s.sample_ratio);
    let _ = tracing_subscriber::registry()
        .with(
            fmt.with_filter(filter)
                .with_filter(tracing_subscriber::filter::filter_fn(gives_lines_context)),
        )
        .with(otel)
        .try_init();
    Telemetry {
        provider,
        _lines: lines,
    }
}

/// The spans log lines are told within: a request's (route, request id, trace id,
/// account) and a background batch's. The spans of services inside a request are
/// for traces only: formatting their fields for lines that seldom come was a cost
/// paid on every request.
fn gives_lines_context(meta: &tracing::Metadata<'_>) -> bool {
    !meta.is_span() || matches!(meta.name(), "request" | "booking.commit" | "outbox.handle")
}

fn exporter(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let base = endpoint.trim_end_matches('/');
    let url = if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        // The ratio is applied when a request arrives (`trace::sampled`); what reaches
        // the exporter is in the sample already.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(
            Resource::builder()
                .with_service_name("boxoffice")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build())
}

//! What observing a request adds to its latency, with nothing else in the way: the
//! server's `observe` middleware (request span, trace context, in-flight gauge, the
//! `http_request_duration_seconds` sample) and the reserve counter, around a handler
//! that does nothing, measured request by request. End to end, a machine's tail
//! (fsync, scheduling) moves by milliseconds between identical runs and hides a cost
//! of microseconds; here the cost is all there is.
//!
//! Run with `cargo bench -p boxoffice --bench telemetry`; figures in
//! docs/benchmarks.md.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::{middleware, Router};
use boxoffice::http::observe::observe;
use hdrhistogram::Histogram;
use metrics_exporter_prometheus::PrometheusBuilder;
use std::time::Instant;
use tower::ServiceExt;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Requests per variant, measured in interleaved blocks so drift hits all alike.
const REQUESTS: u64 = 200_000;
const BLOCK: u64 = 1_000;
const WARM_UP: u64 = 20_000;

async fn reserve() -> (StatusCode, &'static str) {
    boxoffice::telemetry::metrics::reservation("bench-show".into(), Ok(()));
    (StatusCode::CREATED, r#"{"id":"b"}"#)
}

fn router(observed: bool) -> Router {
    let routes = Router::new().route("/api/v1/shows/{id}/reserve", post(reserve));
    if observed {
        routes.layer(middleware::from_fn(observe))
    } else {
        routes
    }
}

/// Log lines as the server writes them at `level` (formatted on the request's
/// thread; the output itself is thrown away here).
fn subscriber(level: &str) -> Dispatch {
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::sink)
        .with_filter(EnvFilter::new(level));
    Dispatch::new(tracing_subscriber::registry().with(lines))
}

struct Variant {
    name: &'static str,
    router: Router,
    dispatch: Dispatch,
    metrics: bool,
    latency: Histogram<u64>,
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let recorder = PrometheusBuilder::new().build_recorder();
    let variant = |name, observed, level, metrics| Variant {
        name,
        router: router(observed),
        dispatch: subscriber(level),
        metrics,
        latency: Histogram::new(3).expect("histogram"),
    };
    let mut variants = [
        variant("no observe layer", false, "warn", false),
        variant("off (metrics off, logs at warn)", true, "warn", false),
        variant("metrics on, logs at warn", true, "warn", true),
        variant("metrics on, request lines at info", true, "info", true),
    ];
    let one = |v: &Variant| {
        let req = Request::post("/api/v1/shows/s-1/reserve")
            .header("content-type", "application/json")
            .header("x-request-id", "0190a6a4-0000-7000-8000-000000000000")
            .body(Body::from(r#"{"zone_id":"z","quantity":1}"#))
            .expect("request");
        let started = Instant::now();
        let res = rt.block_on(v.router.clone().oneshot(req)).expect("answer");
        let took = started.elapsed();
        assert_eq!(res.status(), StatusCode::CREATED);
        took
    };
    let run = |v: &mut Variant, n: u64, record: bool| {
        let (dispatch, metrics) = (v.dispatch.clone(), v.metrics);
        tracing::dispatcher::with_default(&dispatch, || {
            let mut go = || {
                for _ in 0..n {
                    let took = one(v);
                    if record {
                        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
                        v.latency.record(ns.max(1)).expect("in range");
                    }
                }
            };
            if metrics {
                metrics::with_local_recorder(&recorder, go);
            } else {
                go();
            }
        })
    };
    for v in variants.iter_mut() {
        run(v, WARM_UP, false);
    }
    for _ in 0..REQUESTS / BLOCK {
        for v in variants.iter_mut() {
            run(v, BLOCK, true);
        }
    }
    let base = |q: f64| variants[1].latency.value_at_quantile(q) as f64 / 1000.0;
    let (base50, base99) = (base(0.5), base(0.99));
    println!(
        "{} requests per variant, one at a time; µs per request, and the difference to `off`",
        REQUESTS
    );
    println!("| variant | mean | p50 | p99 | p99.9 | p50 − off | p99 − off |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for v in &variants {
        let q = |q: f64| v.latency.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:+.2} | {:+.2} |",
            v.name,
            v.latency.mean() / 1000.0,
            q(0.5),
            q(0.99),
            q(0.999),
            q(0.5) - base50,
            q(0.99) - base99
        );
    }
}

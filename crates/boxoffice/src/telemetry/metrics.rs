//! Prometheus metrics through the `metrics` facade: the names every capability
//! records under, the recorder (one per process, as the facade requires), and the
//! figures read at scrape time from live state rather than paid for on the hot path.
//!
//! Labels are route templates and bounded sets (a show of the catalog, a zone, an
//! outcome), never raw paths, account ids or booking ids.
use crate::state::AppState;
use metrics::{counter, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use std::sync::OnceLock;
use std::time::Duration;

/// Every metric name, so recording sites, tests and dashboards agree.
pub mod names {
    pub const HTTP_DURATION: &str = "http_request_duration_seconds";
    pub const HTTP_IN_FLIGHT: &str = "http_requests_in_flight";
    pub const RESERVATIONS: &str = "booking_reservations_total";
    pub const RESERVATION_FAILURES: &str = "booking_reservation_failures_total";
    pub const CONFIRMATIONS: &str = "booking_confirmations_total";
    pub const CANCELLATIONS: &str = "booking_cancellations_total";
    pub const EXPIRATIONS: &str = "booking_expirations_total";
    pub const ACTIVE_RESERVATIONS: &str = "active_reservations";
    pub const INVENTORY_TICKETS: &str = "inventory_tickets";
    pub const INVENTORY_DRIFT: &str = "inventory_drift";
    pub const INVENTORY_REPAIRED: &str = "inventory_drift_repaired_total";
    pub const RECONCILE_DURATION: &str = "inventory_reconcile_duration_seconds";
    pub const WRITER_BATCH_SIZE: &str = "booking_writer_batch_size";
    pub const WRITER_COMMIT: &str = "booking_writer_commit_seconds";
    pub const EXPIRY_LAG: &str = "booking_expiry_lag_seconds";
    pub const CONSUMER_LAG: &str = "event_consumer_lag";
    pub const DEAD_LETTERS: &str = "outbox_dead_letters";
    pub const DB_ACTIVE: &str = "db_connections_active";
    pub const DB_IDLE: &str = "db_connections_idle";
    pub const QUEUE_WAITING: &str = "queue_waiting";
    pub const QUEUE_JOINS: &str = "queue_joins_total";
    pub const QUEUE_ADMISSIONS: &str = "queue_admissions_total";
    pub const PAYMENTS: &str = "payments_total";
    pub const GATEWAY_DURATION: &str = "payment_gateway_duration_seconds";
    pub const REFUNDS: &str = "refunds_total";
    pub const WEBHOOK_DELIVERIES: &str = "webhook_deliveries_total";
    pub const MAIL_MESSAGES: &str = "mail_messages_total";
    pub const CHECKIN_SCANS: &str = "checkin_scans_total";
    pub const RATE_LIMITED: &str = "rate_limited_total";
    pub const REDIS_OPERATION: &str = "redis_operation_duration_seconds";
    pub const INVENTORY_REBUILDS: &str = "inventory_rebuilds_total";
    pub const READY: &str = "boxoffice_ready";
    pub const BUILD_INFO: &str = "boxoffice_build_info";
}

/// Latency buckets (seconds): fine below 10 ms, where the hot path lives.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Writes per group commit.
const BATCH: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle).
/// `None` when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(names::WRITER_BATCH_SIZE.into()), BATCH)
                })
                // A show's gauges leave with the show.
                .map(|b| b.idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(600))));
            let handle = match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    return None;
                }
            };
            describe();
            gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_histogram!(
        names::HTTP_DURATION,
        Unit::Seconds,
        "HTTP requests by route template, method and status"
    );
    describe_gauge!(names::HTTP_IN_FLIGHT, "HTTP requests being served");
    describe_counter!(names::RESERVATIONS, "Holds granted");
    describe_counter!(
        names::RESERVATION_FAILURES,
        "Reserve requests refused, by reason"
    );
    describe_counter!(names::CONFIRMATIONS, "Bookings confirmed");
    describe_counter!(names::CANCELLATIONS, "Bookings cancelled");
    describe_counter!(names::EXPIRATIONS, "Holds released at their deadline");
    describe_gauge!(names::ACTIVE_RESERVATIONS, "Holds pending now");
    describe_gauge!(
        names::INVENTORY_TICKETS,
        "Tickets of a zone by state (available, held, sold)"
    );
    describe_gauge!(
        names::INVENTORY_DRIFT,
        "Tickets on which the live inventory and the record disagree, at the last reconciliation"
    );
    describe_counter!(
        names::INVENTORY_REPAIRED,
        "Tickets of drift repaired from the record (Redis inventory)"
    );
    describe_histogram!(
        names::RECONCILE_DURATION,
        Unit::Seconds,
        "Time of one reconciliation run over every selling show"
    );
    describe_histogram!(names::WRITER_BATCH_SIZE, "Booking writes per group commit");
    describe_histogram!(
        names::WRITER_COMMIT,
        Unit::Seconds,
        "Time of one group commit"
    );
    describe_gauge!(
        names::EXPIRY_LAG,
        Unit::Seconds,
        "How late the last expiry run released its most overdue hold"
    );
    describe_gauge!(
        names::CONSUMER_LAG,
        "Outbox events a consumer has not handled yet"
    );
    describe_gauge!(names::DEAD_LETTERS, "Open dead letters per consumer");
    describe_gauge!(names::DB_ACTIVE, "Database connections in use");
    describe_gauge!(names::DB_IDLE, "Database connections idle in the pool");
    describe_gauge!(names::QUEUE_WAITING, "Buyers waiting in a show's queue");
    describe_counter!(names::QUEUE_JOINS, "Buyers who joined a show's queue");
    describe_counter!(
        names::QUEUE_ADMISSIONS,
        "Buyers admitted from a show's queue"
    );
    describe_counter!(names::PAYMENTS, "Payment attempts settled, by outcome");
    describe_histogram!(
        names::GATEWAY_DURATION,
        Unit::Seconds,
        "Payment gateway calls by operation"
    );
    describe_counter!(names::REFUNDS, "Refunds settled, by outcome");
    describe_counter!(
        names::WEBHOOK_DELIVERIES,
        "Webhook delivery attempts, by outcome"
    );
    describe_counter!(
        names::MAIL_MESSAGES,
        "Messages handed to the mail transport, by outcome"
    );
    describe_counter!(names::CHECKIN_SCANS, "Door scans by result");
    describe_counter!(
        names::RATE_LIMITED,
        "Requests refused by a rate limit, by class"
    );
    describe_histogram!(
        names::REDIS_OPERATION,
        Unit::Seconds,
        "Round trips to the Redis inventory, by operation"
    );
    describe_counter!(
        names::INVENTORY_REBUILDS,
        "Times the live inventory was rebuilt from the record after Redis lost it"
    );
    describe_gauge!(
        names::READY,
        "1 when the process is ready to serve, 0 when not"
    );
    describe_gauge!(names::BUILD_INFO, "The running version");
}

/// Registers the counters of bounded label sets at zero, so `rate()` and alerts see
/// them from the first scrape rather than from their first event.
pub fn register_known() {
    for outcome in ["captured", "declined", "failed", "cancelled"] {
        counter!(names::PAYMENTS, "outcome" => outcome).absolute(0);
    }
    for outcome in ["succeeded", "failed"] {
        counter!(names::REFUNDS, "outcome" => outcome).absolute(0);
    }
    for outcome in ["delivered", "failed", "abandoned"] {
        counter!(names::WEBHOOK_DELIVERIES, "outcome" => outcome).absolute(0);
    }
    for outcome in ["sent", "failed"] {
        counter!(names::MAIL_MESSAGES, "outcome" => outcome).absolute(0);
    }
    for result in boxoffice_domain::ticket::ScanResult::ALL {
        counter!(names::CHECKIN_SCANS, "result" => result.as_str()).absolute(0);
    }
    for class in ["login", "register", "reserve", "default"] {
        counter!(names::RATE_LIMITED, "class" => class).absolute(0);
    }
    gauge!(names::EXPIRY_LAG).set(0.0);
    counter!(names::INVENTORY_REBUILDS).absolute(0);
}

/// Counts one answer to a reserve request of `show`.
pub fn reservation(show: String, outcome: Result<(), &'static str>) {
    match outcome {
        Ok(()) => counter!(names::RESERVATIONS, "show" => show).increment(1),
        Err(reason) => counter!(
            names::RESERVATION_FAILURES,
            "show" => show,
            "reason" => reason
        )
        .increment(1),
    }
}

/// Figures read from live state when Prometheus scrapes: inventory per zone, holds
/// pending, the database pool, outbox backlog and the queues.
pub async fn collect(state: &AppState) {
    let ready = state.health.failure().is_none();
    gauge!(names::READY).set(if ready { 1.0 } else { 0.0 });
    let pool = state.store.pool_usage();
    gauge!(names::DB_ACTIVE).set(f64::from(pool.size.saturating_sub(pool.idle)));
    gauge!(names::DB_IDLE).set(f64::from(pool.idle));
    let mut pending = 0usize;
    for (show, counts) in state.booking.live_counts().await {
        pending += counts.pending_holds;
        let show = show.to_string();
        for (zone, c) in &counts.zones {
            let zone = zone.to_string();
            for (label, value) in [
                ("available", c.available()),
                ("held", c.held),
                ("sold", c.sold),
            ] {
                gauge!(names::INVENTORY_TICKETS, "show" => show.clone(), "zone" => zone.clone(), "state" => label)
                    .set(f64::from(value));
            }
        }
    }
    gauge!(names::ACTIVE_RESERVATIONS).set(pending as f64);
    for (show, waiting, joined, admitted) in state.queue.figures() {
        let show = show.to_string();
        gauge!(names::QUEUE_WAITING, "show" => show.clone()).set(waiting as f64);
        counter!(names::QUEUE_JOINS, "show" => show.clone()).absolute(joined);
        counter!(names::QUEUE_ADMISSIONS, "show" => show).absolute(admitted);
    }
    match state.store.outbox_backlog().await {
        Ok(backlog) => {
            let of = |pairs: &[(String, i64)], name: &str| {
                pairs.iter().find(|(c, _)| c == name).map_or(0, |(_, n)| *n)
            };
            for name in state.consumers.names() {
                let lag = (backlog.head - of(&backlog.offsets, name)).max(0);
                gauge!(names::CONSUMER_LAG, "consumer" => name).set(lag as f64);
                gauge!(names::DEAD_LETTERS, "consumer" => name)
                    .set(of(&backlog.open_dead_letters, name) as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "outbox backlog not read for metrics"),
    }
}

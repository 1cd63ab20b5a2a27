//! What operators see: the metrics of a sale on the admin listener (and not on the
//! public port), every metric the dashboards and alerts name, readiness with each
//! dependency, trace ids in problems, and a server process exporting its spans to an
//! OTLP collector while logging one JSON line per request.
use crate::on_both_backends;
use crate::support::{
    eventually, free_port, rfc3339, Backend, ShowFixture, ShowSpec, TestApp, User,
};
use boxoffice::telemetry::exposition::Sample;
use boxoffice::telemetry::metrics::names;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// The value of the one sample of `name` whose labels include `labels` (for a
/// histogram, its `_count`).
fn value(scrape: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let count = format!("{name}_count");
    let matching: Vec<&Sample> = scrape
        .iter()
        .filter(|s| s.name == name || s.name == count)
        .filter(|s| labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .collect();
    match matching.as_slice() {
        [] => None,
        [one] => Some(one.value),
        more => panic!("{} samples of {name} match {labels:?}", more.len()),
    }
}

/// Whether `/metrics` exports `name` (a histogram as its `_bucket`, `_sum`, `_count`).
fn exported(scrape: &[Sample], name: &str) -> bool {
    scrape.iter().any(|s| {
        s.name == name
            || s.name
                .strip_prefix(name)
                .is_some_and(|rest| ["_bucket", "_sum", "_count"].contains(&rest))
    })
}

async fn checkout(app: &TestApp, token: &str, booking: &str) -> Value {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/bookings/{booking}/checkout")))
        .bearer_auth(token)
        .header("prefer", "wait=10")
        .json(&json!({"payment_method": "pm_card_ok"}))
        .send()
        .await
        .expect("answered");
    crate::support::read(res).await.expect(200).clone()
}

/// A small sale: three holds fill a zone of five, a fourth is refused as sold out,
/// one hold is paid and one cancelled.
async fn sale(app: &TestApp) -> (ShowFixture, Vec<User>) {
    let show = app
        .show_with(ShowSpec {
            capacity: 5,
            ..ShowSpec::default()
        })
        .await;
    let mut buyers = Vec::new();
    let mut bookings = Vec::new();
    for quantity in [2, 2, 1] {
        let b = app.buyer().await;
        bookings.push(app.hold(&b.token, &show, quantity).await);
        buyers.push(b);
    }
    let late = app.buyer().await;
    app.reserve(&late.token, &show, 1)
        .await
        .expect_problem(409, "/problems/sold-out");
    let paid = checkout(app, &buyers[0].token, &bookings[0]).await;
    assert_eq!(paid["booking"]["status"], "confirmed", "{paid}");
    app.cancel(&buyers[1].token, &bookings[1]).await.expect(200);
    (show, buyers)
}

async fn metrics_follow_a_sale(backend: Backend) {
    let (app, _sim) = TestApp::spawn_with_gateway(backend, Default::default(), |c| {
        c.reconcile_interval_secs = 1;
    })
    .await;
    let (show, _) = sale(&app).await;
    let s = show.show_id.as_str();
    let zone = show.zone_id.as_str();

    let scrape = eventually(WAIT, "consumers caught up and drift measured", || async {
        let scrape = app.scrape().await;
        let lags: Vec<f64> = ["audit", "notifications", "webhooks", "tickets"]
            .iter()
            .filter_map(|c| value(&scrape, names::CONSUMER_LAG, &[("consumer", c)]))
            .collect();
        let caught_up = lags.len() == 4 && lags.iter().all(|l| *l == 0.0);
        let drift = value(&scrape, names::INVENTORY_DRIFT, &[("show", s)]);
        (caught_up && drift.is_some()).then_some(scrape)
    })
    .await;
    let v = |name: &str, labels: &[(&str, &str)]| value(&scrape, name, labels);
    assert_eq!(v(names::RESERVATIONS, &[("show", s)]), Some(3.0));
    assert_eq!(
        v(
            names::RESERVATION_FAILURES,
            &[("show", s), ("reason", "sold-out")]
        ),
        Some(1.0)
    );
    assert_eq!(v(names::CONFIRMATIONS, &[("show", s)]), Some(1.0));
    assert_eq!(v(names::CANCELLATIONS, &[("show", s)]), Some(1.0));
    for (state, n) in [("sold", 2.0), ("held", 1.0), ("available", 2.0)] {
        assert_eq!(
            v(
                names::INVENTORY_TICKETS,
                &[("show", s), ("zone", zone), ("state", state)]
            ),
            Some(n),
            "{state}"
        );
    }
    assert_eq!(v(names::INVENTORY_DRIFT, &[("show", s)]), Some(0.0));
    assert!(v(names::ACTIVE_RESERVATIONS, &[]).is_some_and(|n| n >= 1.0));
    assert!(v(names::PAYMENTS, &[("outcome", "captured")]).is_some_and(|n| n >= 1.0));
    assert!(v(
        names::GATEWAY_DURATION,
        &[("operation", "create_intent"), ("outcome", "ok")]
    )
    .is_some_and(|n| n >= 1.0));
    assert!(v(
        names::HTTP_DURATION,
        &[
            ("route", "/api/v1/bookings/reserve"),
            ("method", "POST"),
            ("status", "201")
        ]
    )
    .is_some_and(|n| n >= 3.0));
    assert!(
        v(
            names::HTTP_DURATION,
            &[
                ("route", "/api/v1/bookings/{id}/cancel"),
                ("method", "POST"),
                ("status", "200")
            ]
        )
        .is_some_and(|n| n >= 1.0),
        "the route template labels the cancel, not its path: {:?}",
        scrape
            .iter()
            .filter(|s| s.name == format!("{}_count", names::HTTP_DURATION))
            .map(|s| format!("{:?}", s.labels))
            .collect::<Vec<_>>()
    );
    assert!(v(names::WRITER_BATCH_SIZE, &[]).is_some_and(|n| n >= 1.0));
    assert!(v(names::DB_IDLE, &[]).is_some());
    assert_eq!(v(names::READY, &[]), Some(1.0));
    // No id of a booking or an account becomes a label value; the show's id appears
    // only as the `show` label.
    for sample in &scrape {
        for (key, val) in sample.labels.iter() {
            if key != "show" {
                assert!(!val.contains(s), "{} {key}={val}", sample.name);
            }
            if key == "route" {
                assert!(
                    !val.split('/').any(|seg| uuid::Uuid::parse_str(seg).is_ok()),
                    "a raw path as a route label: {val}"
                );
            }
        }
    }
    // The public port does not serve them.
    app.get("/metrics", None)
        .await
        .expect_problem(404, "/problems/not-found");
}

on_both_backends!(metrics_follow_a_sale);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_a_dashboard_or_alert_names_is_exported() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/check-deploy");
    let out = std::process::Command::new(script)
        .arg("--metric-names")
        .output()
        .expect("scripts/check-deploy runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let named: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        named.len() >= 20,
        "the dashboards and alerts name {named:?}"
    );

    let (app, _sim) = TestApp::spawn_with_gateway(Backend::Sqlite, Default::default(), |c| {
        c.reconcile_interval_secs = 1;
        c.queue.poll_interval_secs = 0;
    })
    .await;
    let (_, _) = sale(&app).await;
    // A hold left to expire.
    let short = app
        .show_with(ShowSpec {
            hold_ttl_secs: Some(30),
            ..ShowSpec::default()
        })
        .await;
    let late = app.buyer().await;
    app.hold(&late.token, &short, 1).await;
    app.clock.advance_secs(31);
    // A queued show, so the waiting room's figures exist.
    let queued = app.show_with(ShowSpec::default()).await;
    app.put(
        &format!("/api/v1/shows/{}/queue", queued.show_id),
        Some(&queued.organizer.token),
        &json!({"method": "fifo", "opens_at": rfc3339(app.state.clock.now()), "admission": "fixed", "rate_per_sec": 1}),
    )
    .await
    .expect(200);
    let buyer = app.buyer().await;
    app.post(
        &format!("/api/v1/shows/{}/queue/join", queued.show_id),
        Some(&buyer.token),
        &json!({}),
    )
    .await
    .expect(201);

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let scrape = app.scrape().await;
        let missing: Vec<&String> = named.iter().filter(|n| !exported(&scrape, n)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "named by a dashboard or an alert, not exported: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_lists_each_dependency_and_a_gateway_down_only_degrades() {
    let (app, _sim) =
        TestApp::spawn_with_gateway(Backend::Sqlite, Default::default(), |_| {}).await;
    let r = app.get("/health/ready", None).await;
    let body = r.expect(200);
    let check = |body: &Value, name: &str| {
        body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is checked: {body}"))
    };
    for name in ["tasks", "store", "payment_gateway"] {
        assert_eq!(check(body, name)["status"], "up", "{body}");
    }
    assert_eq!(check(body, "store")["required"], true);
    assert!(check(body, "store")["latency_ms"].as_f64().is_some());

    // A gateway that does not answer degrades checkout, not readiness.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut app = app;
    app.restart_with(|c| c.payments.gateway_url = Some(dead))
        .await;
    let r = app.get("/health/ready", None).await;
    let body = r.expect(200);
    let gateway = check(body, "payment_gateway");
    assert_eq!(gateway["status"], "down", "{body}");
    assert_eq!(gateway["required"], false);
    assert!(gateway["detail"].as_str().is_some_and(|d| !d.is_empty()));

    // Degraded, still ready (a failed background task stops the whole process: the
    // supervision tests in `operations` cover that path).
    let scrape = app.scrape().await;
    assert_eq!(value(&scrape, names::READY, &[]), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_problem_carries_the_callers_trace_id_or_a_new_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let given = "4bf92f3577b34da6a3ce929d0e0e4736";
    let res = app
        .client
        .get(app.url(&format!("/api/v1/shows/{}", uuid::Uuid::new_v4())))
        .header("traceparent", format!("00-{given}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    let r = crate::support::read(res).await;
    assert_eq!(
        r.expect_problem(404, "/problems/not-found")["trace_id"],
        given
    );
    let first = app.get("/api/v1/bookings", None).await;
    let second = app.get("/api/v1/bookings", None).await;
    let ids: Vec<&str> = [&first, &second]
        .iter()
        .map(|r| r.body["trace_id"].as_str().expect("a trace id"))
        .collect();
    assert!(ids.iter().all(|id| id.len() == 32 && *id != given));
    assert_ne!(ids[0], ids[1], "each request starts its own trace");
}

/// `method path` with a `traceparent` of `trace` (32 hex digits).
async fn traced(app: &TestApp, path: &str, token: &str, body: Value, trace: &str) -> Value {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .header("prefer", "wait=10")
        .json(&body)
        .send()
        .await
        .expect("answered");
    let r = crate::support::read(res).await;
    assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    r.body
}

async fn outbox_events_carry_the_trace_of_the_request_that_wrote_them(backend: Backend) {
    let (app, _sim) = TestApp::spawn_with_gateway(backend, Default::default(), |_| {}).await;
    let show = app.show_with(ShowSpec::default()).await;
    let buyer = app.buyer().await;
    let (reserving, paying, holding, cancelling) = (
        "11111111111111111111111111111111",
        "2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b",
        "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c",
        "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d",
    );
    let reserve = |trace| {
        traced(
            &app,
            "/api/v1/bookings/reserve",
            &buyer.token,
            json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 1}),
            trace,
        )
    };
    let paid = reserve(reserving).await["id"].as_str().unwrap().to_owned();
    let settled = traced(
        &app,
        &format!("/api/v1/bookings/{paid}/checkout"),
        &buyer.token,
        json!({"payment_method": "pm_card_ok"}),
        paying,
    )
    .await;
    assert_eq!(settled["booking"]["status"], "confirmed", "{settled}");
    let kept = reserve(holding).await["id"].as_str().unwrap().to_owned();
    traced(
        &app,
        &format!("/api/v1/bookings/{kept}/cancel"),
        &buyer.token,
        json!({}),
        cancelling,
    )
    .await;

    let trace_of = |events: &[boxoffice::store::OutboxEvent], aggregate: &str, kind: &str| {
        let e = events
            .iter()
            .find(|e| e.aggregate_id == aggregate && e.event_type == kind)
            .unwrap_or_else(|| panic!("{kind} of {aggregate}"));
        e.trace_context
            .as_deref()
            .and_then(|t| t.split('-').nth(1))
            .map(str::to_owned)
    };
    let events = app.outbox().await;
    assert_eq!(
        trace_of(&events, &paid, "booking.reserved").as_deref(),
        Some(reserving)
    );
    assert_eq!(
        trace_of(&events, &paid, "booking.payment_started").as_deref(),
        Some(paying)
    );
    assert_eq!(
        trace_of(&events, &kept, "booking.reserved").as_deref(),
        Some(holding)
    );
    assert_eq!(
        trace_of(&events, &kept, "booking.cancelled").as_deref(),
        Some(cancelling)
    );
    // The capture arrives by the provider's webhook (or the resolver's lookup): its own
    // work, which never claims the checkout's trace.
    let confirmed = trace_of(&events, &paid, "booking.confirmed");
    assert!(confirmed.is_none_or(|t| t != reserving && t != paying));
}

on_both_backends!(outbox_events_carry_the_trace_of_the_request_that_wrote_them);

/// Spans posted to the fake collector, as OTLP/JSON bodies.
type Posted = Arc<Mutex<Vec<Value>>>;

async fn collector() -> (String, Posted) {
    let posted: Posted = Arc::default();
    let keep = posted.clone();
    let router = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    keep.lock().unwrap().push(v);
                }
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), posted)
}

/// Every span of the posted OTLP/JSON bodies.
fn posted_spans(posted: &Posted) -> Vec<Value> {
    let bodies = posted.lock().unwrap();
    let mut out = Vec::new();
    for rs in bodies
        .iter()
        .flat_map(|b| b["resourceSpans"].as_array().into_iter().flatten())
    {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            out.extend(ss["spans"].as_array().into_iter().flatten().cloned());
        }
    }
    out
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

/// Every link of the posted spans: `(span name, linked trace id)`.
fn links(posted: &Posted) -> Vec<(String, String)> {
    posted_spans(posted)
        .iter()
        .flat_map(|span| {
            span["links"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|link| (text(&span["name"]), text(&link["traceId"]).to_lowercase()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A span as exported: trace id, name, attributes.
type Exported = (String, String, Vec<(String, Value)>);

/// Every span of the posted bodies: `(trace id, name, attributes as key → value)`.
fn spans(posted: &Posted) -> Vec<Exported> {
    posted_spans(posted)
        .iter()
        .map(|span| {
            let attrs = span["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| (text(&a["key"]), a["value"].clone()))
                .collect();
            (
                text(&span["traceId"]).to_lowercase(),
                text(&span["name"]),
                attrs,
            )
        })
        .collect()
}

/// `boxoffice serve` on `port`, exporting spans to `endpoint` at `ratio`, batches
/// sent every 100 ms.
fn exporting_server(
    dir: &std::path::Path,
    port: u16,
    endpoint: &str,
    ratio: &str,
) -> tokio::process::Command {
    let mut cmd = crate::operations::binary();
    cmd.current_dir(dir)
        .env("BOXOFFICE_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .env("BOXOFFICE_OTLP_ENDPOINT", endpoint)
        .env("BOXOFFICE_TRACE_SAMPLE_RATIO", ratio)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .arg("serve");
    cmd
}

async fn until_live(client: &reqwest::Client, base: &str) {
    eventually(WAIT, "the server answers", || async {
        let r = client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

/// Sampling is decided when a request arrives: at ratio 0 only a caller's sampled
/// flag sends a request's span to the collector, and a request left out still has
/// its trace id in its answer and its log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_left_out_of_the_sample_export_nothing_and_keep_their_trace_id() {
    let (endpoint, posted) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = exporting_server(dir.path(), port, &endpoint, "0")
        .spawn()
        .expect("the server starts");
    let client = crate::support::client();
    let base = format!("http://127.0.0.1:{port}");
    until_live(&client, &base).await;
    let ask = |traceparent: Option<String>| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let mut req = client.get(format!("{base}/api/v1/shows/{}", uuid::Uuid::new_v4()));
            if let Some(t) = traceparent {
                req = req.header("traceparent", t);
            }
            let problem: Value = req.send().await.unwrap().json().await.unwrap();
            problem["trace_id"].as_str().expect("a trace id").to_owned()
        }
    };
    let declined = "1bf7651916cd43dd8448eb211c80319c";
    let sampled = "2cf7651916cd43dd8448eb211c80319c";
    let unasked = ask(None).await;
    assert_eq!(unasked.len(), 32, "a trace id of its own: {unasked}");
    assert_eq!(
        ask(Some(format!("00-{declined}-b7ad6b7169203331-00"))).await,
        declined
    );
    assert_eq!(
        ask(Some(format!("00-{sampled}-b7ad6b7169203331-01"))).await,
        sampled
    );
    eventually(
        WAIT,
        "the sampled request's span at the collector",
        || async {
            spans(&posted)
                .into_iter()
                .find(|(trace, name, _)| trace == sampled && name == "request")
        },
    )
    .await;
    // Spans are sent in batches every 100 ms: anything of the others would be there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let traces: Vec<String> = spans(&posted).into_iter().map(|(t, _, _)| t).collect();
    for left_out in [&unasked, &declined.to_owned()] {
        assert!(
            !traces.contains(left_out),
            "{left_out} was exported: {traces:?}"
        );
    }
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_exports_request_spans_over_otlp_and_logs_one_json_line_per_request() {
    let (endpoint, posted) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = exporting_server(dir.path(), port, &endpoint, "1")
        .env("BOXOFFICE_LOG_FORMAT", "json")
        .env("BOXOFFICE_DEMO_DATA", "true")
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let keep = lines.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut reader = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            keep.lock().unwrap().push(line);
        }
    });
    let client = crate::support::client();
    let base = format!("http://127.0.0.1:{port}");
    until_live(&client, &base).await;
    let given = "0af7651916cd43dd8448eb211c80319c";
    let missing = uuid::Uuid::new_v4();
    let res = client
        .get(format!("{base}/api/v1/shows/{missing}"))
        .header("traceparent", format!("00-{given}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["trace_id"], given, "{problem}");

    let exported = eventually(WAIT, "the request span at the collector", || async {
        spans(&posted)
            .into_iter()
            .find(|(trace, name, _)| trace == given && name == "request")
    })
    .await;
    let route = exported
        .2
        .iter()
        .find(|(k, _)| k == "route")
        .map(|(_, v)| v["stringValue"].clone());
    assert_eq!(route, Some(json!("/api/v1/shows/{id}")), "{exported:?}");

    let line = eventually(WAIT, "the request's log line", || async {
        lines.lock().unwrap().iter().find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["fields"]["message"] == "request" && v["span"]["trace_id"] == given).then_some(v)
        })
    })
    .await;
    assert_eq!(line["fields"]["status"], 404, "{line}");
    assert!(line["fields"]["latency_ms"].as_f64().is_some(), "{line}");
    assert_eq!(line["span"]["route"], "/api/v1/shows/{id}", "{line}");
    assert!(line["span"]["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));
    assert!(
        !line.to_string().contains(&missing.to_string()),
        "the raw path stays out of the line: {line}"
    );

    // A hold: the consumers that handle its event link their span to its request.
    let password = |role: &str| {
        let lines = lines.lock().unwrap();
        let line = lines
            .iter()
            .find(|l| l.contains("demo account") && l.contains(&format!("role={role} ")))
            .unwrap_or_else(|| panic!("the {role}'s demo account is printed"));
        line.rsplit("password=").next().unwrap().trim().to_owned()
    };
    let login = |role: &'static str| {
        let (client, base, password) = (client.clone(), base.clone(), password(role));
        async move {
            let r: Value = client
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": format!("{role}@boxoffice.local"), "password": password}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["access_token"].as_str().expect("signed in").to_owned()
        }
    };
    let post = |path: String, token: String, body: Value, trace: Option<&'static str>| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let mut req = client
                .post(format!("{base}{path}"))
                .bearer_auth(token)
                .json(&body);
            if let Some(t) = trace {
                req = req.header("traceparent", format!("00-{t}-b7ad6b7169203331-01"));
            }
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json::<Value>().await.unwrap()
        }
    };
    let organizer = login("organizer").await;
    let event = post(
        "/api/v1/events".into(),
        organizer.clone(),
        json!({"title": "Traced", "category": "concert", "city": "Lyon"}),
        None,
    )
    .await;
    let show = post(
        format!("/api/v1/events/{}/shows", event["id"].as_str().unwrap()),
        organizer,
        json!({"venue": "Hall", "starts_at": "2030-01-01T20:00:00Z",
               "zones": [{"name": "Floor", "price_minor": 1000, "currency": "EUR", "capacity": 10}]}),
        None,
    )
    .await;
    let reserving = "5e7c0a9b1d2e4f6a8b9c0d1e2f3a4b5c";
    post(
        "/api/v1/bookings/reserve".into(),
        login("buyer").await,
        json!({"show_id": show["id"], "zone_id": show["zones"][0]["id"], "quantity": 1}),
        Some(reserving),
    )
    .await;
    eventually(
        WAIT,
        "a consumer span linked to the hold's request",
        || async {
            links(&posted)
                .into_iter()
                .any(|(name, trace)| name == "outbox.handle" && trace == reserving)
                .then_some(())
        },
    )
    .await;
    let _ = child.kill().await;
}

//! The waiting room in the scaled mode: three `boxoffice serve` API nodes and a
//! `boxoffice worker` (which admits) as separate processes on one PostgreSQL, one Redis
//! and one NATS of the test's own. A buyer may join through one node, follow its
//! place through another and reserve through a third; Redis may restart empty, and
//! every place and pass is written back from the record.
use crate::crash::{admin_token, bulk, call, sale, Server, Setup};
use crate::support::{client, Backend, NatsServer, RedisServer, Resp, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Three API nodes and a worker on `db`, `redis` and `nats`; joins unlimited per
/// address (one machine plays every buyer) and status answers unpaced.
async fn cluster(
    db: &TestDb,
    redis: &RedisServer,
    nats: &NatsServer,
    dir: &std::path::Path,
) -> (Setup, Vec<Server>, Server) {
    let unpaced = [
        ("BOXOFFICE_QUEUE__JOINS_PER_IP_PER_MINUTE", "0"),
        ("BOXOFFICE_QUEUE__POLL_INTERVAL_SECS", "0"),
    ];
    crate::nodes::cluster_with(db, redis, nats, dir, &unpaced).await
}

fn queue_url(node: &Server, show: &str, rest: &str) -> String {
    node.url(&format!("/api/v1/shows/{show}/queue{rest}"))
}

fn rfc3339_in(secs: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("a date")
}

/// Asks until `check` holds for the answer, or fails after `secs`.
async fn until(
    secs: u64,
    what: &str,
    mut ask: impl AsyncFnMut() -> Resp,
    check: impl Fn(&Resp) -> bool,
) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = ask().await;
        if check(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: last answer {} {}",
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_sale_across_three_api_nodes_keeps_the_line_fair_and_sells_the_capacity() {
    let db = TestDb::create(Backend::Postgres).await;
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    let work = tempfile::tempdir().expect("a folder");
    let (setup, nodes, _worker) = cluster(&db, &redis, &nats, work.path()).await;
    // Each buyer joins through one node and polls, follows and reserves through the
    // next; the worker admits 150 a second; a third joined before opening (drawn).
    let stdout = crate::nodes::loadtest_across(
        &setup,
        &nodes,
        &[
            "--queue",
            "--capacity",
            "150",
            "--buyers",
            "300",
            "--queue-rate",
            "150",
            "--opens-in",
            "4",
            "--pre-queue-share",
            "0.3",
            "--sse",
            "60",
            "--clients",
            "32",
            "--quiet",
        ],
        &["/queue/join", "/queue/status", "/bookings/reserve"],
    )
    .await;
    assert!(!stdout.contains("FAILED"), "{stdout}");
    assert!(
        stdout.contains("150 tickets taken"),
        "sold out to the ticket: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_and_passes_hold_across_nodes_and_an_empty_redis() {
    let db = TestDb::create(Backend::Postgres).await;
    let mut redis = RedisServer::start();
    let nats = NatsServer::start();
    let work = tempfile::tempdir().expect("a folder");
    let (_setup, nodes, _worker) = cluster(&db, &redis, &nats, work.path()).await;
    let http = client();
    let admin = admin_token(&http, &nodes[0]).await;
    let (show, zone) = sale(&http, &nodes[0], &admin, 10, 1000).await;
    let buyers = bulk(&http, &nodes[0], &admin, 4, "line").await;
    let put = |node: &Server, body: Value| {
        let (http, url, admin) = (http.clone(), queue_url(node, &show, ""), admin.clone());
        async move {
            let res = http.put(url).bearer_auth(admin).json(&body).send().await;
            crate::support::read(res.expect("answered")).await
        }
    };
    // Opens in an hour; joins are taken now (FIFO: in the order the line has them).
    let settings = |opens_at: String| {
        json!({"method": "fifo", "opens_at": opens_at, "admission": "fixed",
               "rate_per_sec": 1, "pre_queue_secs": 7200})
    };
    put(&nodes[0], settings(rfc3339_in(3600))).await.expect(200);
    // Buyer i joins through node i % 3: once the queue's set-up is answered, every
    // node knows it (and would refuse a reserve without a pass).
    let mut places = Vec::new();
    for (i, token) in buyers.iter().enumerate().take(3) {
        let node = &nodes[i % 3];
        let r = call(
            &http,
            queue_url(node, &show, "/join"),
            token,
            Some(json!({})),
        )
        .await;
        places.push(
            r.expect(201)["place_id"]
                .as_str()
                .expect("a place")
                .to_owned(),
        );
    }
    for node in &nodes {
        let r = call(
            &http,
            node.url("/api/v1/bookings/reserve"),
            &buyers[0],
            Some(json!({"show_id": show, "zone_id": zone, "quantity": 1})),
        )
        .await;
        r.expect_problem(403, "/problems/queue-pass-invalid");
    }
    // Every node tells every buyer the same place and position.
    for node in &nodes {
        for (i, token) in buyers.iter().enumerate().take(3) {
            let r = call(&http, queue_url(node, &show, "/status"), token, None).await;
            let body = r.expect(200);
            assert_eq!(body["place_id"], places[i].as_str(), "{body}");
            assert_eq!(body["position"], i as u64 + 1, "{body}");
        }
    }

    // Redis restarts empty: the nodes write the line back from the record, and it is
    // the same line. A join is refused (503) until then, and then queues behind it.
    redis.restart_empty();
    let late = until(
        30,
        "a join after Redis restarted empty",
        async || {
            call(
                &http,
                queue_url(&nodes[2], &show, "/join"),
                &buyers[3],
                Some(json!({})),
            )
            .await
        },
        |r| r.status != 503,
    )
    .await;
    assert_eq!(late.expect(201)["position"], 4, "{}", late.text);
    // The live inventory is rebuilt on its own clock (it waits out the holds other
    // nodes were recording); until then a reserve is refused with 503, nothing taken.
    for node in &nodes {
        until(
            30,
            "every node has the live inventory back",
            async || call(&http, node.url("/health/ready"), &admin, None).await,
            |r| r.status == 200,
        )
        .await;
    }
    for node in &nodes {
        for (i, token) in buyers.iter().enumerate().take(3) {
            let r = until(
                10,
                "every node follows the line written back",
                async || call(&http, queue_url(node, &show, "/status"), token, None).await,
                |r| r.status == 200 && r.body["waiting"] == 4,
            )
            .await;
            assert_eq!(r.body["place_id"], places[i].as_str(), "{}", r.text);
            assert_eq!(r.body["position"], i as u64 + 1, "{}", r.text);
        }
    }

    // Opening: the worker admits one a second, in line order.
    put(&nodes[1], settings(rfc3339_in(0))).await.expect(200);
    let pass_of = async |i: usize, node: &Server| -> String {
        let r = until(
            20,
            "a pass",
            async || call(&http, queue_url(node, &show, "/status"), &buyers[i], None).await,
            |r| r.status == 200 && r.body["pass"].is_string(),
        )
        .await;
        r.body["pass"].as_str().expect("a pass").to_owned()
    };
    let first = pass_of(0, &nodes[2]).await;
    let reserve = |node: &Server, i: usize, pass: &str| {
        let req = http
            .post(node.url("/api/v1/bookings/reserve"))
            .bearer_auth(&buyers[i])
            .header("X-Queue-Pass", pass)
            .json(&json!({"show_id": show, "zone_id": zone, "quantity": 1}));
        async move { crate::support::read(req.send().await.expect("answered")).await }
    };
    // A pass admits once, whichever node sees it.
    reserve(&nodes[1], 0, &first).await.expect(201);
    reserve(&nodes[0], 0, &first)
        .await
        .expect_problem(403, "/problems/queue-pass-invalid");
    // The second pass sent to two nodes at once: exactly one reserve.
    let second = pass_of(1, &nodes[0]).await;
    let (a, b) = tokio::join!(
        reserve(&nodes[1], 1, &second),
        reserve(&nodes[2], 1, &second)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 403], "{} / {}", a.text, b.text);
    // Whom the line admitted, and how the figures agree on every node.
    for node in &nodes {
        let r = until(
            10,
            "every node's figures count both passes used",
            async || call(&http, queue_url(node, &show, "/stats"), &admin, None).await,
            |r| r.status == 200 && r.body["passes"]["used"] == 2,
        )
        .await;
        assert_eq!(r.body["joined"], 4, "{}", r.text);
    }
}

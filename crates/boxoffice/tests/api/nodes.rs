//! The scaled mode as it runs in production: three `boxoffice serve` API nodes and one
//! `boxoffice worker` as separate processes on one PostgreSQL database, one Redis and
//! one NATS JetStream (a `redis-server` and a `nats-server` of the test's own).
//! `boxoffice loadtest` spreads a sale across the three; then an API node is killed
//! with `kill -9` and Redis restarts empty in the middle of a rush, NATS restarts and
//! the worker is paused for the rest of it. Nothing is oversold, every acknowledged
//! hold is in the record, every event reaches the stream and the worker's consumers,
//! and the sale completes.
use crate::crash::{admin_token, bulk, sale, Server, Setup, ADMIN_EMAIL};
use crate::event_stream::stream_messages;
use crate::support::{client, read, Backend, NatsServer, RedisServer, TestDb, PASSWORD};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const CAPACITY: u64 = 400;

/// Three API nodes and a worker on `db`, `redis` and `nats`.
async fn cluster(
    db: &TestDb,
    redis: &RedisServer,
    nats: &NatsServer,
    dir: &std::path::Path,
) -> (Setup, Vec<Server>, Server) {
    cluster_with(db, redis, nats, dir, &[]).await
}

/// [`cluster`] with more `BOXOFFICE_*` settings for every process.
pub(crate) async fn cluster_with(
    db: &TestDb,
    redis: &RedisServer,
    nats: &NatsServer,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> (Setup, Vec<Server>, Server) {
    let mut env = vec![
        ("BOXOFFICE_REDIS_URL".to_owned(), redis.url()),
        ("BOXOFFICE_NATS_URL".to_owned(), nats.url()),
        ("BOXOFFICE_ROLE".to_owned(), "api".to_owned()),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let setup = Setup {
        database_url: db.url.clone(),
        dir: dir.to_owned(),
        env,
    };
    setup.create_admin().await;
    let worker = setup.worker("worker").await;
    let mut nodes = Vec::new();
    for i in 0..3 {
        nodes.push(setup.serve(&format!("api{i}")).await);
    }
    (setup, nodes, worker)
}

async fn sales(http: &reqwest::Client, node: &Server, admin: &str, show: &str) -> Value {
    let r = read(
        http.get(node.url(&format!("/api/v1/shows/{show}/sales")))
            .bearer_auth(admin)
            .send()
            .await
            .expect("answered"),
    )
    .await;
    r.expect(200).clone()
}

/// Runs `boxoffice loadtest` with `args` across every node; fails unless it succeeds
/// and each node answered some of `routes`; its output.
pub(crate) async fn loadtest_across(
    setup: &Setup,
    nodes: &[Server],
    args: &[&str],
    routes: &[&str],
) -> String {
    let urls: Vec<String> = nodes.iter().map(|n| n.url("")).collect();
    let out = setup
        .command()
        .env("RUST_LOG", "warn")
        .arg("loadtest")
        .args(["--url", &urls.join(",")])
        .args(["--admin-email", ADMIN_EMAIL, "--admin-password", PASSWORD])
        .args(args)
        .output()
        .await
        .expect("loadtest runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "loadtest failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every node answered part of the sale.
    for node in nodes {
        let logs = node.logs();
        for route in routes {
            assert!(
                logs.contains(route),
                "{} answered no {route}: {logs}",
                node.url("")
            );
        }
    }
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loadtest_across_three_api_nodes_sells_exactly_the_capacity() {
    let db = TestDb::create(Backend::Postgres).await;
    let redis = RedisServer::start();
    let nats = NatsServer::start();
    let work = tempfile::tempdir().expect("a folder");
    let (setup, nodes, _worker) = cluster(&db, &redis, &nats, work.path()).await;
    let capacity = CAPACITY.to_string();
    let stdout = loadtest_across(
        &setup,
        &nodes,
        &[
            "--capacity",
            &capacity,
            "--buyers",
            "600",
            "--per-user-limit",
            "2",
            "--clients",
            "24",
            "--duration",
            "20",
            "--confirm",
            "--json",
            "--quiet",
        ],
        &["/api/v1/bookings/reserve"],
    )
    .await;
    let summary: Value =
        serde_json::from_str(stdout.lines().last().expect("a summary")).expect("a JSON summary");
    assert_eq!(summary["checks_passed"], true, "{summary}");
    assert_eq!(
        summary["holds"], CAPACITY,
        "sold out, to the ticket: {summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_api_node_an_empty_redis_and_a_nats_restart_mid_sale_lose_nothing() {
    let db = TestDb::create(Backend::Postgres).await;
    let mut redis = RedisServer::start();
    let mut nats = NatsServer::start();
    let work = tempfile::tempdir().expect("a folder");
    let (_setup, mut nodes, mut worker) = cluster(&db, &redis, &nats, work.path()).await;
    let http = client();
    let admin = admin_token(&http, &nodes[0]).await;
    let (show, zone) = sale(&http, &nodes[0], &admin, CAPACITY, 1000).await;
    let buyers = bulk(&http, &nodes[0], &admin, 600, "nodes").await;
    let body = json!({"show_id": show, "zone_id": zone, "quantity": 1});

    // Buyers spread over the nodes, each once; a node dies and Redis empties meanwhile.
    let reserve = |i: usize, nodes: &[Server]| {
        let url = nodes[i % nodes.len()].url("/api/v1/bookings/reserve");
        let (http, token, body) = (http.clone(), buyers[i].clone(), body.clone());
        tokio::spawn(async move {
            let sent = http.post(url).bearer_auth(token).json(&body).send().await;
            match sent {
                Ok(res) => Some(read(res).await),
                Err(_) => None,
            }
        })
    };
    let first: Vec<_> = (0..300).map(|i| reserve(i, &nodes)).collect();
    tokio::time::sleep(Duration::from_millis(40)).await;
    nodes[2].kill().await;
    redis.restart_empty();
    let mut acked = Vec::new();
    let mut unknown = 0;
    let mut again = Vec::new();
    for (i, t) in first.into_iter().enumerate() {
        match t.await.expect("task") {
            Some(r) if r.status == 201 => acked.push(r.body["id"].as_str().expect("id").to_owned()),
            Some(r) if r.status == 409 || r.status == 503 => again.push(i),
            Some(r) => panic!("unexpected {}: {}", r.status, r.text),
            None => {
                unknown += 1;
                again.push(i);
            }
        }
    }
    eprintln!(
        "first wave: {} acknowledged, {} refused or unanswered ({unknown} unanswered)",
        acked.len(),
        again.len()
    );
    let alive = &nodes[..2];
    // The survivors are ready again once the inventory is rebuilt.
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in alive {
        while http
            .get(node.url("/health/ready"))
            .send()
            .await
            .map_or(true, |r| r.status() != 200)
        {
            assert!(Instant::now() < deadline, "{} ready again", node.url(""));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // NATS restarts, and the worker is paused for the rest of the sale: nothing on the
    // hot path waits for either. The rest of the sale on the two survivors, retrying
    // what was refused.
    nats.restart();
    worker.signal("STOP");
    let second: Vec<_> = again
        .into_iter()
        .chain(300..buyers.len())
        .map(|i| reserve(i, alive))
        .collect();
    let mut sold_out = 0;
    for t in second {
        let r = t.await.expect("task").expect("a live node answers");
        match r.status.as_u16() {
            201 => acked.push(r.body["id"].as_str().expect("id").to_owned()),
            409 => {
                assert_eq!(r.body["type"], "/problems/sold-out", "{}", r.text);
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(sold_out > 0, "the sale sold out");
    worker.signal("CONT");
    let distinct: HashSet<&String> = acked.iter().collect();
    assert_eq!(distinct.len(), acked.len());
    // Every acknowledged hold is in the record; nothing beyond the capacity is.
    let live = db_holds(&db).await;
    for id in &acked {
        assert!(live.contains(id), "acknowledged hold {id} is in the record");
    }
    assert!(
        (acked.len() as u64) + unknown as u64 >= CAPACITY.min(live.len() as u64),
        "holds whose answer was lost are the only ones not acknowledged"
    );
    // Redis was rebuilt from the record and the sale sold out on top of it: the live
    // counters, the record and the capacity agree to the ticket.
    assert_eq!(live.len() as u64, CAPACITY);
    let report = sales(&http, &alive[0], &admin, &show).await;
    assert_eq!(report["zones"][0]["recorded_held"], CAPACITY, "{report}");
    assert_eq!(report["zones"][0]["held"], CAPACITY, "{report}");
    assert_eq!(report["consistent"], true, "{report}");
    assert!(worker.running(), "the worker resumed");
    every_event_reaches_the_stream_and_the_consumers(&db, &nats).await;
}

/// Every outbox event is in the stream once, and each of the worker's consumers has
/// acknowledged all of them.
async fn every_event_reaches_the_stream_and_the_consumers(db: &TestDb, nats: &NatsServer) {
    let pool = sqlx::PgPool::connect(&db.url).await.expect("the database");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let want: HashSet<String> = sqlx::query_scalar::<_, String>("SELECT id FROM outbox")
            .fetch_all(&pool)
            .await
            .expect("the outbox")
            .into_iter()
            .collect();
        let got: HashSet<String> = stream_messages(&nats.url()).await.into_keys().collect();
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every event relayed within 60 s: {} of {}",
            got.intersection(&want).count(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    pool.close().await;
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("NATS"));
    let stream = js.get_stream("BOXOFFICE").await.expect("the stream");
    for name in ["audit", "notifications", "webhooks", "tickets"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = stream.consumer_info(name).await.expect("a durable");
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{name} keeps up: {info:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Ids of the bookings the database holds for the test's show.
async fn db_holds(db: &TestDb) -> HashSet<String> {
    let pool = sqlx::PgPool::connect(&db.url).await.expect("the database");
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM bookings WHERE status = 'held'")
        .fetch_all(&pool)
        .await
        .expect("bookings");
    pool.close().await;
    ids.into_iter().collect()
}

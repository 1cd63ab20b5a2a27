//! `kill -9` in the middle of an on-sale: the real binary is killed while reserves are
//! in flight and restarted on the same database. Every acknowledged hold survives,
//! counters are rebuilt from the record, and the rest of the stock sells to exactly
//! the capacity.
use crate::on_every_engine;
use crate::support::{
    client, free_port, read, zone_totals, Backend, RedisServer, Resp, TestDb, PASSWORD,
};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};

const CAPACITY: u64 = 300;
pub(crate) const ADMIN_EMAIL: &str = "ops@example.com";
const WORKERS: usize = 32;

/// How every run of the binary is configured: same database, same signing key.
pub(crate) struct Setup {
    pub(crate) database_url: String,
    pub(crate) dir: PathBuf,
    /// More `BOXOFFICE_*` settings (the payment gateway, …); without them, online
    /// payment is off and holds are confirmed directly.
    pub(crate) env: Vec<(String, String)>,
}

impl Setup {
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
        // Only our configuration: the test environment's BOXOFFICE_* variables (such
        // as the PostgreSQL URL of the tests) are not the server's.
        for (key, _) in std::env::vars() {
            if key.starts_with("BOXOFFICE_") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.dir)
            .env("BOXOFFICE_DATABASE_URL", &self.database_url)
            .env("BOXOFFICE_DEMO_DATA", "false")
            .env("BOXOFFICE_METRICS_ADDR", "127.0.0.1:0")
            .env(
                "BOXOFFICE_JWT_SECRET",
                "crash-test-signing-key-crash-test-signing-key",
            )
            .env("BOXOFFICE_DATABASE_MAX_CONNECTIONS", "8")
            .env("BOXOFFICE_PAYMENTS__GATEWAY", "none")
            .env("RUST_LOG", "info,sqlx=warn")
            .kill_on_drop(true);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        // A crowd of buyers from one address: limits far above it, still counted.
        for class in ["LOGIN", "REGISTER", "RESERVE", "DEFAULT"] {
            cmd.env(
                format!("BOXOFFICE_RATE_LIMITS__{class}__PER_MINUTE"),
                "1000000000",
            )
            .env(format!("BOXOFFICE_RATE_LIMITS__{class}__BURST"), "1000000");
        }
        cmd
    }

    pub(crate) async fn create_admin(&self) {
        let out = self
            .command()
            .args(["admin", "create-user", "--email", ADMIN_EMAIL])
            .args(["--password", PASSWORD, "--role", "admin"])
            .output()
            .await
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "admin create-user failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(ADMIN_EMAIL));
    }

    /// Starts `boxoffice serve` on a free port and waits until it is ready.
    pub(crate) async fn serve(&self, name: &str) -> Server {
        for attempt in 0..5 {
            let mut server = self.start(&format!("{name}-{attempt}"), free_port());
            if server.ready().await {
                return server;
            }
            // Somebody took the port between the probe and the bind: another one.
            assert!(
                server.logs().contains("in use"),
                "the server exited: {}",
                server.logs()
            );
        }
        panic!("no free port for the server");
    }

    /// Starts `boxoffice serve` on `port` (one a gateway already sends webhooks
    /// to) and waits until it is ready.
    pub(crate) async fn serve_at(&self, name: &str, port: u16) -> Server {
        let mut server = self.start(name, port);
        assert!(server.ready().await, "the server exited: {}", server.logs());
        server
    }

    /// Starts `boxoffice worker` (no public listener) and waits until its jobs run.
    pub(crate) async fn worker(&self, name: &str) -> Server {
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = self
            .command()
            .arg("worker")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("the worker starts");
        let mut worker = Server {
            child,
            base: String::new(),
            log,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !worker.logs().contains("running background jobs") {
            if let Ok(Some(_)) = worker.child.try_wait() {
                panic!("the worker exited: {}", worker.logs());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the worker did not start: {}",
                worker.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        worker
    }

    fn start(&self, name: &str, port: u16) -> Server {
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = self
            .command()
            .arg("serve")
            .env("BOXOFFICE_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("the server starts");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }
}

pub(crate) struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for readiness; `false` when the process exited first.
    async fn ready(&mut self) -> bool {
        let http = client();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(self.url("/health/ready")).send().await {
                if r.status() == 200 {
                    return true;
                }
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not become ready: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a signal by name (`STOP` pauses the process, `CONT` resumes it).
    pub(crate) fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running");
        let sent = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIG{name} sent");
    }

    /// Whether the process still runs.
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no shutdown hook, no flush.
    pub(crate) async fn kill(&mut self) {
        self.child.kill().await.expect("killed");
    }
}

/// Once `at_least` holds are acknowledged, kills `server` with the sale in full
/// swing, waits for the buyers' tasks and returns every acknowledged hold.
pub(crate) async fn kill_mid_sale<T: Clone>(
    server: &mut Server,
    workers: Vec<tokio::task::JoinHandle<()>>,
    acked: &Mutex<Vec<T>>,
    at_least: usize,
) -> Vec<T> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sale did not get going"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill().await;
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    acked
}

pub(crate) async fn call(
    http: &reqwest::Client,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Resp {
    let req = match body {
        Some(b) => http.post(url).json(&b),
        None => http.get(url),
    };
    read(req.bearer_auth(token).send().await.expect("answered")).await
}

pub(crate) async fn bulk(
    http: &reqwest::Client,
    s: &Server,
    admin: &str,
    count: u32,
    prefix: &str,
) -> Vec<String> {
    let r = call(
        http,
        s.url("/api/v1/admin/users/bulk"),
        admin,
        Some(json!({"count": count, "prefix": prefix, "password": PASSWORD})),
    )
    .await;
    r.expect(201)["buyers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["access_token"].as_str().unwrap().to_owned())
        .collect()
}

/// Signs the admin in.
pub(crate) async fn admin_token(http: &reqwest::Client, s: &Server) -> String {
    let login = http
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let login = read(login).await;
    assert_eq!(login.expect(200)["user"]["role"], "admin");
    login.body["access_token"].as_str().unwrap().to_owned()
}

/// An organization, an event and a show with one zone on sale; `(show, zone)`.
pub(crate) async fn sale(
    http: &reqwest::Client,
    s: &Server,
    admin: &str,
    capacity: u64,
    price_minor: i64,
) -> (String, String) {
    let org = call(
        http,
        s.url("/api/v1/organizations"),
        admin,
        Some(json!({"name": "Crash Promotions"})),
    )
    .await;
    let org_id = org.expect(201)["id"].as_str().unwrap().to_owned();
    let event = call(
        http,
        s.url("/api/v1/events"),
        admin,
        Some(json!({"title": "Crash Night", "category": "concert", "city": "Oslo", "organization_id": org_id})),
    )
    .await;
    let event_id = event.expect(201)["id"].as_str().unwrap().to_owned();
    let show = call(
        http,
        s.url(&format!("/api/v1/events/{event_id}/shows")),
        admin,
        Some(json!({
            "venue": "Spektrum",
            "starts_at": "2099-06-01T20:00:00Z",
            "per_user_limit": 10,
            "zones": [{"name": "Floor", "price_minor": price_minor, "currency": "NOK", "capacity": capacity}],
        })),
    )
    .await;
    let show_id = show.expect(201)["id"].as_str().unwrap().to_owned();
    let zone_id = show.body["zones"][0]["id"].as_str().unwrap().to_owned();
    (show_id, zone_id)
}

async fn acknowledged_holds_survive_kill_9(backend: Backend) {
    let db = TestDb::create(backend).await;
    let work = tempfile::tempdir().unwrap();
    // With the Redis engine, Redis outlives the killed process, as it would.
    let redis = (backend == Backend::Redis).then(RedisServer::start);
    let setup = Setup {
        database_url: db.url.clone(),
        dir: work.path().to_owned(),
        env: redis
            .iter()
            .map(|r| ("BOXOFFICE_REDIS_URL".to_owned(), r.url()))
            .collect(),
    };
    setup.create_admin().await;
    let mut first = setup.serve("first").await;
    let http = client();

    let admin = admin_token(&http, &first).await;
    let (show_id, zone_id) = sale(&http, &first, &admin, CAPACITY, 5000).await;
    let reserve_body = |qty: u32| json!({"show_id": show_id, "zone_id": zone_id, "quantity": qty});

    let buyers = bulk(&http, &first, &admin, 400, "rush").await;
    // One sale completes before the storm.
    let early = call(
        &http,
        first.url("/api/v1/bookings/reserve"),
        &buyers[0],
        Some(reserve_body(2)),
    )
    .await;
    let early_id = early.expect(201)["id"].as_str().unwrap().to_owned();
    call(
        &http,
        first.url(&format!("/api/v1/bookings/{early_id}/confirm")),
        &buyers[0],
        Some(json!({})),
    )
    .await
    .expect(200);

    // The storm: workers reserve one ticket per buyer, back to back.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let unexpected = Arc::new(Mutex::new(Vec::<String>::new()));
    let url = first.url("/api/v1/bookings/reserve");
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let mine: Vec<String> = buyers.iter().skip(w).step_by(WORKERS).cloned().collect();
            let (http, url, body) = (http.clone(), url.clone(), reserve_body(1));
            let (acked, failed, unexpected) = (acked.clone(), failed.clone(), unexpected.clone());
            tokio::spawn(async move {
                for token in mine {
                    let sent = http.post(&url).bearer_auth(&token).json(&body).send().await;
                    let Ok(res) = sent else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let status = res.status();
                    let Ok(text) = res.text().await else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match status.as_u16() {
                        201 => acked
                            .lock()
                            .unwrap()
                            .push(body["id"].as_str().unwrap().to_owned()),
                        _ => {
                            unexpected.lock().unwrap().push(format!("{status}: {text}"));
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    let acked = kill_mid_sale(&mut first, workers, &acked, 80).await;
    assert!(
        unexpected.lock().unwrap().is_empty(),
        "before the kill every reserve succeeded: {:?}",
        unexpected.lock().unwrap()
    );
    assert!(
        failed.load(Ordering::SeqCst) > 0,
        "requests were in flight when the server died"
    );
    assert!((acked.len() as u64) < CAPACITY - 2, "killed mid-sale");

    // Same database, same key: the old tokens still work.
    let second = setup.serve("second").await;
    for id in &acked {
        let b = call(
            &http,
            second.url(&format!("/api/v1/bookings/{id}")),
            &admin,
            None,
        )
        .await;
        assert_eq!(b.expect(200)["status"], "held", "acknowledged hold {id}");
    }
    let b = call(
        &http,
        second.url(&format!("/api/v1/bookings/{early_id}")),
        &admin,
        None,
    )
    .await;
    assert_eq!(b.expect(200)["status"], "confirmed");

    let sales_url = second.url(&format!("/api/v1/shows/{show_id}/sales"));
    let sales = call(&http, sales_url.clone(), &admin, None).await;
    let sales = sales.expect(200).clone();
    assert_eq!(sales["consistent"], true, "{sales}");
    let (held, sold, available) = zone_totals(&sales);
    assert_eq!(sold, 2);
    assert!(
        held >= acked.len() as u64,
        "{held} held, {} acknowledged",
        acked.len()
    );
    assert_eq!(held + sold + available, CAPACITY);

    // The record agrees: the held bookings in the store are exactly the live counters.
    let store = boxoffice::store::SqlStore::connect(&db.url, 2, Default::default())
        .await
        .unwrap();
    let live = boxoffice::store::BookingStore::live_bookings(&store)
        .await
        .unwrap();
    let stored_held: Vec<_> = live
        .iter()
        .filter(|b| b.show_id.to_string() == show_id && b.status.is_pending())
        .collect();
    assert_eq!(
        stored_held
            .iter()
            .map(|b| u64::from(b.quantity))
            .sum::<u64>(),
        held
    );
    assert_eq!(
        stored_held.len() as u64,
        held,
        "one ticket per held booking"
    );
    for id in &acked {
        assert!(stored_held.iter().any(|b| &b.id.to_string() == id));
    }
    store.close().await;

    // The sale goes on to exactly the capacity, never beyond.
    let remaining = CAPACITY - held - sold;
    let extra = 20;
    let late = bulk(&http, &second, &admin, (remaining + extra) as u32, "late").await;
    let url = second.url("/api/v1/bookings/reserve");
    let tasks: Vec<_> = late
        .into_iter()
        .map(|token| {
            let (http, url, body) = (http.clone(), url.clone(), reserve_body(1));
            tokio::spawn(async move { call(&http, url, &token, Some(body)).await })
        })
        .collect();
    let (mut won, mut sold_out) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            201 => won += 1,
            409 if r.body["type"] == "/problems/sold-out" => sold_out += 1,
            _ => panic!("unexpected answer: {}", r.text),
        }
    }
    assert_eq!((won, sold_out), (remaining, extra));
    let sales = call(&http, sales_url, &admin, None).await;
    let sales = sales.expect(200);
    assert_eq!(zone_totals(sales), (CAPACITY - 2, 2, 0));
    assert_eq!(sales["consistent"], true, "{sales}");
    drop(second);
    drop(work);
}

on_every_engine!(acknowledged_holds_survive_kill_9);

//! Shared harness: isolated databases (a SQLite file in a temporary folder or a fresh
//! PostgreSQL database), the real application on port 0 with a manual clock, and
//! small HTTP helpers that keep the tests about behaviour rather than plumbing.
#![allow(dead_code)]

use boxoffice::accounts::NewAccount;
use boxoffice::app::App;
use boxoffice::clock::{Clock, ManualClock};
use boxoffice::config::Config;
use boxoffice::state::AppState;
use boxoffice::store::OutboxEvent;
use boxoffice_domain::account::Role;
use boxoffice_domain::UserId;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Runs `async fn $name(backend: Backend)` once for each `(test name, Backend)` of
/// the list: the module `$name` holds one test per backend.
#[macro_export]
macro_rules! backend_tests {
    ($backends:tt; $($name:ident),* $(,)?) => {
        $( $crate::backend_tests!(@one $name $backends); )*
    };
    (@one $name:ident [$(($test:ident, $backend:ident)),*]) => {
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$name($crate::support::Backend::$backend).await
                }
            )*
        }
    };
}

/// Runs `async fn $name(backend: Backend)` once per backend, as the tests
/// `$name::sqlite` and `$name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!([(sqlite, Sqlite), (postgres, Postgres)]; $($name),*);
    };
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Runs `async fn $name(backend: Backend)` on every inventory engine: SQLite and
/// PostgreSQL with the in-process engine, and PostgreSQL with the Redis engine (a
/// `redis-server` of the test's own), as `$name::sqlite`, `::postgres`, `::redis`.
#[macro_export]
macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(
            [(sqlite, Sqlite), (postgres, Postgres), (redis, Redis)];
            $($name),*
        );
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// PostgreSQL as the record, live inventory in Redis (the scaled mode).
    Redis,
}

/// A server process of the test's own on a free port: started, awaited until it
/// listens, killed (`kill -9`) and started again on demand, killed with the value.
struct Daemon {
    program: &'static str,
    args: Vec<std::ffi::OsString>,
    port: u16,
    child: Option<std::process::Child>,
}

impl Daemon {
    fn start(program: &'static str, port: u16, args: Vec<std::ffi::OsString>) -> Self {
        let mut daemon = Self {
            program,
            args,
            port,
            child: None,
        };
        daemon.launch();
        daemon
    }

    fn launch(&mut self) {
        let child = std::process::Command::new(self.program)
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs (apt-get install it): {e}", self.program));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} listens within 10 s",
                self.program
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `redis-server` of the test's own, keeping nothing on disk, so a test may kill
/// and restart it without touching the machine's Redis.
pub struct RedisServer(Daemon);

impl RedisServer {
    pub fn start() -> Self {
        let port = free_port();
        let args = format!("--bind 127.0.0.1 --port {port} --appendonly no --protected-mode no");
        let mut args: Vec<std::ffi::OsString> = args.split(' ').map(Into::into).collect();
        args.extend(["--save".into(), "".into()]);
        Self(Daemon::start("redis-server", port, args))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port)
    }

    /// `kill -9`: everything it held is gone.
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Kills it and starts an empty one on the same port, as a restart of a Redis
    /// that keeps nothing on disk.
    pub fn restart_empty(&mut self) {
        self.0.kill();
        self.0.launch();
    }
}

/// A `nats-server -js` of the test's own, its JetStream data in a folder that
/// outlives a restart (as a server with a disk would).
pub struct NatsServer {
    daemon: Daemon,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("a folder");
        let args = ["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]
            .into_iter()
            .map(Into::into)
            .chain([dir.path().as_os_str().to_owned()])
            .collect();
        Self {
            daemon: Daemon::start("nats-server", port, args),
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.daemon.port)
    }

    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    /// `kill -9`, then the same server again on the same port and data.
    pub fn restart(&mut self) {
        self.daemon.kill();
        self.daemon.launch();
    }
}

/// A port that is free now, outside the kernel's ephemeral range so that neither
/// outgoing connections nor other tests' port-0 listeners take it meanwhile.
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The admin URL of the PostgreSQL server the tests create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("BOXOFFICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

async fn admin_pool() -> sqlx::PgPool {
    let url = postgres_admin_url();
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required by this test: {e}"))
}

/// An isolated database; dropped (best effort) with the value.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}/bo.db", dir.path().display());
                Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres | Backend::Redis => {
                let name = format!("bo_t_{}", uuid::Uuid::new_v4().simple());
                let pool = admin_pool().await;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await
                    .expect("create the test database");
                pool.close().await;
                Self {
                    url: with_database(&postgres_admin_url(), &name),
                    // The record is PostgreSQL whichever engine holds live inventory.
                    backend: Backend::Postgres,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The folder of a SQLite database (for files next to it).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(|d| d.path())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Runs on its own thread and runtime: this may be inside a test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(&postgres_admin_url())
                    .await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// A response with its body read: JSON when it parses, else `Value::Null`.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        &self.body
    }

    /// Asserts an RFC 9457 problem with this status and `type`.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, kind: &str) -> &Value {
        self.expect(status);
        assert_problem_shape(self);
        assert_eq!(self.body["type"], kind, "problem type; body: {}", self.text);
        &self.body
    }

    /// The fields named by a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts a 422 naming `field`.
    #[track_caller]
    pub fn expect_field_error(&self, field: &str) {
        self.expect_problem(422, "/problems/validation");
        assert!(
            self.error_fields().iter().any(|f| f == field),
            "expected a field error on {field}; body: {}",
            self.text
        );
    }
}

/// Every error is `application/problem+json` with the standard members and the
/// request id.
#[track_caller]
pub fn assert_problem_shape(r: &Resp) {
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "content type of a {} response; body: {}",
        r.status,
        r.text
    );
    for member in ["type", "title", "detail", "request_id"] {
        assert!(
            r.body[member].as_str().is_some_and(|s| !s.is_empty()),
            "problem member {member} missing; body: {}",
            r.text
        );
    }
    assert_eq!(r.body["status"], r.status.as_u16(), "body: {}", r.text);
    assert_eq!(
        r.body["request_id"].as_str(),
        r.header("x-request-id"),
        "the problem names the request id of the response"
    );
}

/// A signed-in account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub token: String,
}

/// Ids of a show set up for a test.
#[derive(Clone, Debug)]
pub struct ShowFixture {
    pub organizer: User,
    pub event_id: String,
    pub show_id: String,
    pub zone_id: String,
}

/// Knobs of [`TestApp::show_with`].
#[derive(Clone, Debug)]
pub struct ShowSpec {
    pub capacity: i64,
    pub hold_ttl_secs: Option<i64>,
    pub per_user_limit: Option<i64>,
    /// Seconds from now; `None` opens the sale now.
    pub opens_in_secs: Option<i64>,
    /// Ticket price; `None`: 25.00 EUR.
    pub price_minor: Option<i64>,
    /// When the show starts, in seconds from now; `None`: in 30 days.
    pub starts_in_secs: Option<i64>,
}

impl Default for ShowSpec {
    fn default() -> Self {
        Self {
            capacity: 100,
            hold_ttl_secs: None,
            per_user_limit: None,
            opens_in_secs: None,
            price_minor: None,
            starts_in_secs: None,
        }
    }
}

/// The application served on an ephemeral port.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub db: TestDb,
    /// Where the default (folder) mail transport writes `.eml` files.
    pub mail_dir: tempfile::TempDir,
    /// The admin listener's base URL (`GET /metrics`), when metrics are on.
    pub metrics: Option<String>,
    /// The Redis server of [`Backend::Redis`].
    pub redis: Option<RedisServer>,
    /// What the app was built with; a restart builds with it again.
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with the test configuration changed by `configure` (mail goes to a
    /// temporary folder unless `configure` says otherwise).
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_custom(backend, configure, |_| {}).await
    }

    /// Like [`TestApp::spawn_with`], with `setup` run on the built application before
    /// it serves (extra outbox consumers).
    pub async fn spawn_custom(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
        setup: impl FnOnce(&mut App),
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::spawn_on(backend, listener, configure, setup).await
    }

    /// Spawns with online payment through a simulator of the test's own, which
    /// outlives restarts of the app as a real provider would.
    pub async fn spawn_with_gateway(
        backend: Backend,
        knobs: paysim::SimulatorKnobs,
        configure: impl FnOnce(&mut Config),
    ) -> (Self, PaySim) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let sim = PaySim::start(
            knobs,
            format!("http://{addr}{}", boxoffice::payments::http::WEBHOOK_PATH),
        )
        .await;
        let app = Self::spawn_on(
            backend,
            listener,
            |c| {
                sim.configure(c);
                configure(c);
            },
            |_| {},
        )
        .await;
        (app, sim)
    }

    async fn spawn_on(
        backend: Backend,
        listener: TcpListener,
        configure: impl FnOnce(&mut Config),
        setup: impl FnOnce(&mut App),
    ) -> Self {
        record_logs();
        let db = TestDb::create(backend).await;
        let clock = Arc::new(ManualClock::default());
        let mail_dir = tempfile::tempdir().expect("mail folder");
        let mut config = Config::for_tests(&db.url);
        config.mail_dir = mail_dir.path().to_owned();
        let redis = (backend == Backend::Redis).then(RedisServer::start);
        if let Some(r) = &redis {
            config.redis_url = Some(boxoffice::config::SecretUrl::new(r.url()));
        }
        configure(&mut config);
        let addr = listener.local_addr().expect("address");
        let mut built = config.clone();
        built.payments.fill_webhook_url(addr);
        let mut app = App::build(built, clock.clone())
            .await
            .expect("the application builds");
        setup(&mut app);
        let state = app.state.clone();
        let metrics = app.metrics_addr().map(|a| format!("http://{a}"));
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: client(),
            state,
            clock,
            db,
            mail_dir,
            metrics,
            redis,
            config,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server gracefully, then starts a new one on the same database and
    /// clock (a process restart).
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await
    }

    /// [`TestApp::restart`] with the test configuration changed by `configure`.
    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(10), server).await;
            assert!(stopped.is_ok(), "the server stops within 10 s");
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut config = self.config.clone();
        configure(&mut config);
        config.payments.fill_webhook_url(addr);
        let app = App::build(config, self.clock.clone())
            .await
            .expect("the application builds again");
        self.state = app.state.clone();
        self.metrics = app.metrics_addr().map(|a| format!("http://{a}"));
        // The new server may get the old one's port: no pooled connection to the old
        // one may carry a request to it.
        self.client = client();
        self.base = format!("http://{addr}");
        let (tx, rx) = oneshot::channel::<()>();
        self.server = Some(tokio::spawn(app.serve(listener, async move {
            let _ = rx.await;
        })));
        self.shutdown = Some(tx);
    }

    /// Stops the server gracefully and waits until it has flushed and closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }

    /// What Prometheus would read from the admin listener now.
    pub async fn scrape(&self) -> Vec<boxoffice::telemetry::exposition::Sample> {
        let base = self.metrics.as_deref().expect("metrics are on");
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("the admin listener answers")
            .text()
            .await
            .expect("a body");
        boxoffice::telemetry::exposition::parse(&text).expect("the exposition parses")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req.send().await.expect("the request is answered")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.send(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Method::DELETE, path, token, None).await
    }

    /// Creates an account directly (any role) and signs it in.
    pub async fn user(&self, role: Role) -> User {
        let email = format!(
            "{}-{}@example.com",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        let record = self
            .state
            .accounts
            .create(
                NewAccount {
                    email: email.clone(),
                    password: PASSWORD.into(),
                    display_name: format!("Test {}", role.as_str()),
                    role: Some(role.as_str().into()),
                },
                true,
            )
            .await
            .expect("account created");
        if role == Role::Organizer {
            self.state
                .organizations
                .create_personal(record.id, &record.display_name)
                .await
                .expect("organization created");
        }
        let mut user = User {
            id: record.id,
            email,
            role,
            token: String::new(),
        };
        user.token = self.token_for(&user);
        user
    }

    pub async fn buyer(&self) -> User {
        self.user(Role::Buyer).await
    }

    pub async fn organizer(&self) -> User {
        self.user(Role::Organizer).await
    }

    pub async fn admin(&self) -> User {
        self.user(Role::Admin).await
    }

    /// The audit log's entries of `action`, newest first, once there is one (entries
    /// reach the log through a queue).
    pub async fn audit_entries(&self, admin_token: &str, action: &str) -> Vec<Value> {
        let path = format!("/api/v1/admin/audit?action={action}");
        eventually(Duration::from_secs(10), action, || async {
            let r = self.get(&path, Some(admin_token)).await;
            let items = r.expect(200)["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (!items.is_empty()).then_some(items)
        })
        .await
    }

    /// A fresh access token for `user` at the current (manual) time.
    pub fn token_for(&self, user: &User) -> String {
        self.state
            .accounts
            .issuer()
            .issue(user.id, user.role, self.clock.now())
            .expect("token issued")
            .0
    }

    /// The one organization `user` belongs to.
    pub async fn org_of(&self, user: &User) -> String {
        let r = self.get("/api/v1/organizations", Some(&user.token)).await;
        let orgs = r.expect(200).as_array().expect("organizations").clone();
        assert_eq!(orgs.len(), 1, "{orgs:?}");
        orgs[0]["id"].as_str().expect("id").to_owned()
    }

    /// Invites `user` into `org` with `role` as `owner` and accepts as `user`, with
    /// the token the invitation email carries (taken from the service here).
    pub async fn join(&self, owner: &User, org: &str, user: &User, role: &str) {
        let invitation = self
            .state
            .organizations
            .invite(
                boxoffice::accounts::Principal::user(owner.id, owner.role),
                org.parse().expect("organization id"),
                &user.email,
                role,
            )
            .await
            .expect("invited");
        let r = self
            .post(
                "/api/v1/invitations/accept",
                Some(&user.token),
                &json!({"token": invitation.token}),
            )
            .await;
        assert_eq!(r.expect(200)["role"], role);
    }

    /// A crowd for a sale: a show of `capacity` tickets in one zone and `buyers`
    /// buyers provisioned by an admin.
    pub async fn crowd(&self, capacity: u64, buyers: u32) -> (ShowFixture, Vec<(String, String)>) {
        let admin = self.admin().await;
        let show = self
            .show_with(ShowSpec {
                capacity: capacity as i64,
                ..ShowSpec::default()
            })
            .await;
        (show, self.bulk_buyers(&admin, buyers).await)
    }

    /// `count` buyers provisioned through the admin API: `(id, access token)`.
    pub async fn bulk_buyers(&self, admin: &User, count: u32) -> Vec<(String, String)> {
        let r = self
            .post(
                "/api/v1/admin/users/bulk",
                Some(&admin.token),
                &json!({"count": count, "prefix": "load", "password": PASSWORD}),
            )
            .await;
        r.expect(201);
        let buyers: Vec<(String, String)> = r.body["buyers"]
            .as_array()
            .expect("buyers")
            .iter()
            .map(|b| {
                (
                    b["id"].as_str().expect("id").to_owned(),
                    b["access_token"].as_str().expect("token").to_owned(),
                )
            })
            .collect();
        assert_eq!(buyers.len(), count as usize);
        buyers
    }

    pub async fn create_event(&self, token: &str, body: &Value) -> Value {
        let r = self.post("/api/v1/events", Some(token), body).await;
        r.expect(201).clone()
    }

    pub async fn create_show(&self, token: &str, event_id: &str, body: &Value) -> Value {
        let r = self
            .post(
                &format!("/api/v1/events/{event_id}/shows"),
                Some(token),
                body,
            )
            .await;
        r.expect(201).clone()
    }

    /// An organizer, an event and a show on sale with one zone ("Floor", 25.00 EUR).
    pub async fn show_with(&self, spec: ShowSpec) -> ShowFixture {
        let organizer = self.organizer().await;
        let event = self
            .create_event(
                &organizer.token,
                &json!({"title": "Night Test", "category": "concert", "city": "Lyon"}),
            )
            .await;
        let event_id = event["id"].as_str().expect("event id").to_owned();
        let now = self.clock.now();
        let mut show = json!({
            "venue": "Hall One",
            "starts_at": rfc3339(now.plus_secs(spec.starts_in_secs.unwrap_or(30 * 24 * 3600))),
            "zones": [{"name": "Floor", "price_minor": spec.price_minor.unwrap_or(2500), "currency": "EUR", "capacity": spec.capacity}],
        });
        if let Some(ttl) = spec.hold_ttl_secs {
            show["hold_ttl_secs"] = json!(ttl);
        }
        if let Some(limit) = spec.per_user_limit {
            show["per_user_limit"] = json!(limit);
        }
        if let Some(secs) = spec.opens_in_secs {
            show["sale_opens_at"] = json!(rfc3339(now.plus_secs(secs)));
        }
        let show = self.create_show(&organizer.token, &event_id, &show).await;
        ShowFixture {
            organizer,
            event_id,
            show_id: show["id"].as_str().expect("show id").to_owned(),
            zone_id: show["zones"][0]["id"].as_str().expect("zone id").to_owned(),
        }
    }

    pub async fn reserve(&self, token: &str, show: &ShowFixture, quantity: i64) -> Resp {
        self.post(
            "/api/v1/bookings/reserve",
            Some(token),
            &json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": quantity}),
        )
        .await
    }

    /// Reserves and returns the booking id, asserting 201.
    pub async fn hold(&self, token: &str, show: &ShowFixture, quantity: i64) -> String {
        let r = self.reserve(token, show, quantity).await;
        r.expect(201);
        r.body["id"].as_str().expect("booking id").to_owned()
    }

    pub async fn confirm(&self, token: &str, booking: &str) -> Resp {
        self.post(
            &format!("/api/v1/bookings/{booking}/confirm"),
            Some(token),
            &json!({}),
        )
        .await
    }

    pub async fn cancel(&self, token: &str, booking: &str) -> Resp {
        self.post(
            &format!("/api/v1/bookings/{booking}/cancel"),
            Some(token),
            &json!({}),
        )
        .await
    }

    /// The first zone of a show as the public sees it.
    pub async fn zone_view(&self, show: &ShowFixture) -> Value {
        let r = self
            .get(&format!("/api/v1/shows/{}", show.show_id), None)
            .await;
        r.expect(200)["zones"][0].clone()
    }

    /// The sales report of a show, read by its organizer.
    pub async fn sales(&self, show: &ShowFixture) -> Value {
        let token = self.token_for(&show.organizer);
        let r = self
            .get(
                &format!("/api/v1/shows/{}/sales", show.show_id),
                Some(&token),
            )
            .await;
        r.expect(200).clone()
    }

    pub async fn outbox(&self) -> Vec<OutboxEvent> {
        self.state
            .store
            .outbox_after(0, 100_000)
            .await
            .expect("outbox readable")
    }

    /// Event types recorded for one aggregate, oldest first.
    pub async fn events_of(&self, aggregate: &str) -> Vec<String> {
        self.outbox()
            .await
            .into_iter()
            .filter(|e| e.aggregate_id == aggregate)
            .map(|e| e.event_type)
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Where every test process writes the application's logs; `scripts/check-logs`
/// searches them for secrets and personal data once the whole suite has run.
pub fn suite_log_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("suite-logs")
}

/// Sends this process's logs (debug and up, spans included) to its file in
/// [`suite_log_dir`]. Tests that capture logs themselves install a subscriber for
/// their thread, which takes precedence.
fn record_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = suite_log_dir();
        std::fs::create_dir_all(&dir).expect("log folder");
        let file = std::fs::File::create(dir.join(format!("{}.log", std::process::id())))
            .expect("log file");
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_env_filter("debug,sqlx=info,hyper=info,h2=info,reqwest=info")
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

pub async fn read(res: reqwest::Response) -> Resp {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("the body is readable");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

pub fn rfc3339(ts: boxoffice_domain::Timestamp) -> String {
    boxoffice::timefmt::rfc3339(ts)
}

/// Polls `check` every 25 ms until it yields `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `(held, sold, available)` of the first zone of a sales report.
pub fn zone_totals(sales: &Value) -> (u64, u64, u64) {
    let z = &sales["zones"][0];
    (
        z["held"].as_u64().expect("held"),
        z["sold"].as_u64().expect("sold"),
        z["available"].as_u64().expect("available"),
    )
}

/// The payment provider of a test: the simulator on its own port, with the
/// credentials the app is configured with.
pub struct PaySim {
    pub handle: paysim::SimulatorHandle,
    api_key: String,
    secret: String,
}

impl PaySim {
    pub async fn start(knobs: paysim::SimulatorKnobs, webhook_url: String) -> Self {
        use secrecy::SecretString;
        let api_key = format!("sk_test_{}", uuid::Uuid::new_v4().simple());
        let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
        let mut config = paysim::SimulatorConfig::new(
            SecretString::from(api_key.clone()),
            SecretString::from(secret.clone()),
        );
        config.webhook_url = Some(webhook_url);
        config.knobs = knobs;
        config.webhook_retry_base = Duration::from_millis(50);
        config.timeout_hold = Duration::from_secs(5);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let handle = paysim::Simulator::start(config, listener).expect("simulator");
        Self {
            handle,
            api_key,
            secret,
        }
    }

    /// Points `config` at this simulator, with the saga's timings shortened.
    pub fn configure(&self, config: &mut Config) {
        use boxoffice::config::GatewayKind;
        use secrecy::SecretString;
        let p = &mut config.payments;
        p.gateway = GatewayKind::Http;
        p.gateway_url = Some(self.handle.url().to_owned());
        p.api_key = Some(SecretString::from(self.api_key.clone()));
        p.webhook_secret = Some(SecretString::from(self.secret.clone()));
        p.timeout_ms = 1_000;
        p.retry_secs = 1;
        p.resolve_interval_ms = 100;
        p.breaker_open_secs = 1;
    }

    /// The same settings for a server started as a process.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("GATEWAY", "http".to_owned()),
            ("GATEWAY_URL", self.handle.url().to_owned()),
            ("API_KEY", self.api_key.clone()),
            ("WEBHOOK_SECRET", self.secret.clone()),
            ("TIMEOUT_MS", "1000".to_owned()),
            ("RETRY_SECS", "1".to_owned()),
            ("RESOLVE_INTERVAL_MS", "100".to_owned()),
            ("BREAKER_OPEN_SECS", "1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("BOXOFFICE_PAYMENTS__{k}"), v))
        .collect()
    }

    /// Signs `body` as the simulator would, `age_secs` ago (with the real secret, or
    /// with `secret` to forge).
    pub fn sign(&self, body: &str, age_secs: i64, secret: Option<&str>) -> String {
        let now = boxoffice_domain::Timestamp::now().millis() / 1000;
        boxoffice_domain::signature::header(
            &[secret.unwrap_or(&self.secret).as_bytes()],
            now - age_secs,
            body.as_bytes(),
        )
    }
}

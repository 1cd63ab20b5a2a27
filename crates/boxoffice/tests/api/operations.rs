//! What an operator relies on: secrets in the configuration never reach the output of
//! the binary, a failed background task fails readiness and stops the server with an
//! error, and `boxoffice loadtest` runs a whole checked sale with no server to start.
use crate::support::{free_port, Backend, TestDb};
use axum::body::Body;
use boxoffice::app::App;
use boxoffice::config::Config;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use tower::ServiceExt;

const PASSWORD_IN_URL: &str = "Zq7-never-print-this-9xK";

pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_boxoffice"));
    for (key, _) in std::env::vars() {
        if key.starts_with("BOXOFFICE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("BOXOFFICE_DEMO_DATA", "false")
        .env("BOXOFFICE_METRICS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// `postgres://user@host/db` with a password inserted after the user.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, host) = rest.split_once('@').unwrap();
    let user = auth.split(':').next().unwrap();
    format!("{scheme}://{user}:{PASSWORD_IN_URL}@{host}")
}

fn output_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_database_password_never_appears_in_the_output() {
    let db = TestDb::create(Backend::Postgres).await;
    let url = with_password(&db.url);
    let dir = tempfile::tempdir().unwrap();

    // A server that starts, serves and stops (the password is ignored by trust auth
    // on the test server, but it is in the configuration all along).
    let port = free_port();
    let mut child = binary()
        .current_dir(dir.path())
        .env("BOXOFFICE_DATABASE_URL", &url)
        .env("BOXOFFICE_BIND", format!("127.0.0.1:{port}"))
        .arg("serve")
        .spawn()
        .expect("the server starts");
    // Read the output as it comes: debug logs fill a pipe nobody reads, and a server
    // blocked on writing them never becomes ready.
    let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut buf).await;
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let ready_url = format!("http://127.0.0.1:{port}/health/ready");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut ready = false;
    for _ in 0..120 {
        if let Ok(r) = client.get(&ready_url).send().await {
            if r.status().is_success() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let pid = child.id().expect("running").to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status().await;
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server stops on SIGTERM")
        .unwrap();
    let out = std::process::Output {
        status,
        stdout: stdout.await.unwrap(),
        stderr: stderr.await.unwrap(),
    };
    let text = output_of(&out);
    assert!(ready, "the server never became ready:\n{text}");
    assert!(text.contains("starting boxoffice"), "{text}");
    assert!(
        text.contains(":***@"),
        "the redacted URL is logged:\n{text}"
    );
    assert!(!text.contains(PASSWORD_IN_URL), "password printed:\n{text}");

    // `migrate` prints the URL it migrated.
    let migrate = binary()
        .current_dir(dir.path())
        .env("BOXOFFICE_DATABASE_URL", &url)
        .arg("migrate")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), migrate)
        .await
        .expect("migrate finishes")
        .unwrap();
    let text = output_of(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains(PASSWORD_IN_URL), "password printed:\n{text}");

    // A database that cannot be reached: the error names the host, not the password.
    let unreachable = format!(
        "postgres://boxoffice:{PASSWORD_IN_URL}@127.0.0.1:{}/nowhere",
        free_port()
    );
    let refused = binary()
        .current_dir(dir.path())
        .env("BOXOFFICE_DATABASE_URL", &unreachable)
        .env("BOXOFFICE_BIND", format!("127.0.0.1:{}", free_port()))
        .arg("serve")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), refused)
        .await
        .expect("serve gives up on a database it cannot reach")
        .unwrap();
    let text = output_of(&out);
    assert!(!out.status.success(), "it cannot serve without a database");
    assert!(text.contains("starting boxoffice"), "{text}");
    assert!(!text.contains(PASSWORD_IN_URL), "password printed:\n{text}");
}

#[tokio::test]
async fn a_failed_background_task_fails_readiness_and_stops_the_server() {
    let db = TestDb::create(Backend::Sqlite).await;
    let mut app = App::build(
        Config::for_tests(&db.url),
        Arc::new(boxoffice::clock::SystemClock),
    )
    .await
    .unwrap();
    let state = app.state.clone();
    let router = boxoffice::http::router(state.clone());
    let ready = |router: axum::Router| async move {
        let req = axum::http::Request::get("/health/ready")
            .body(Body::empty())
            .unwrap();
        router.oneshot(req).await.unwrap()
    };
    assert_eq!(ready(router.clone()).await.status(), 200);

    let (fail, failed) = tokio::sync::oneshot::channel::<()>();
    app.spawn_task("injected-fault", async move {
        let _ = failed.await;
        panic!("injected fault in a background task");
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tokio::spawn(app.serve(listener, std::future::pending()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!server.is_finished(), "healthy tasks keep it serving");

    fail.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops by itself")
        .unwrap();
    let err = result.expect_err("a failed task makes serve fail");
    assert!(err.to_string().contains("injected-fault"), "{err}");

    let res = ready(router).await;
    assert_eq!(res.status(), 503);
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("injected-fault panicked"),
        "{problem}"
    );
}

#[tokio::test]
async fn loadtest_without_a_url_runs_a_checked_sale_on_its_own_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .args(["loadtest", "--capacity", "200", "--buyers", "300"])
        .args([
            "--per-user-limit",
            "2",
            "--duration",
            "5",
            "--json",
            "--quiet",
        ])
        .output()
        .await
        .unwrap();
    let text = output_of(&out);
    assert!(out.status.success(), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap())
            .expect("a JSON summary line");
    assert_eq!(summary["checks_passed"], true, "{summary}");
    assert_eq!(summary["holds"], 200, "sold out exactly: {summary}");
    // The server's database lived in a temporary folder, not the working one.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn loadtest_holds_waiting_room_streams_multiplexed_over_http2() {
    // 250 buyers follow a paused waiting room over Server-Sent Events, 100 streams to
    // an HTTP/2 connection (three connections), and every stream stays open.
    let out = binary()
        .env("RUST_LOG", "warn")
        .args([
            "loadtest",
            "--queue",
            "--buyers",
            "250",
            "--hold-streams",
            "1",
        ])
        .args(["--http2", "--quiet"])
        .output()
        .await
        .unwrap();
    let text = output_of(&out);
    assert!(out.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("250 buyers over HTTP/2 (3 connections)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("streams: 250 opened with their first event"),
        "{stdout}"
    );
    assert!(stdout.contains("; 250 still open after 1 s"), "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[tokio::test]
async fn loadtest_sells_an_existing_show_and_refuses_one_already_selling() {
    use crate::support::{ShowSpec, TestApp, PASSWORD};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.admin().await;
    let show = app
        .show_with(ShowSpec {
            capacity: 60,
            per_user_limit: Some(2),
            ..ShowSpec::default()
        })
        .await;
    let sell = || {
        let mut cmd = binary();
        cmd.env("RUST_LOG", "warn")
            .args([
                "loadtest",
                "--url",
                &app.base,
                "--admin-email",
                &admin.email,
            ])
            .args(["--admin-password", PASSWORD, "--show", &show.show_id])
            .args(["--buyers", "100", "--duration", "5", "--json", "--quiet"]);
        cmd
    };
    let out = sell().output().await.unwrap();
    let text = output_of(&out);
    assert!(out.status.success(), "{text}");
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap())
            .expect("a JSON summary line");
    assert_eq!(summary["checks_passed"], true, "{summary}");
    assert_eq!(
        summary["holds"], 60,
        "the show's own capacity, sold out: {summary}"
    );
    assert_eq!(summary["show_id"], show.show_id.as_str(), "{summary}");
    let read = app
        .get(&format!("/api/v1/shows/{}", show.show_id), None)
        .await;
    let zone = &read.expect(200)["zones"][0];
    assert_eq!(
        (zone["held"].as_u64(), zone["available"].as_u64()),
        (Some(60), Some(0))
    );

    // Its zone now has tickets out: the checks could not hold, so it is refused.
    let again = sell().output().await.unwrap();
    assert!(!again.status.success(), "{}", output_of(&again));
    assert!(
        output_of(&again).contains("already has 60 held"),
        "{}",
        output_of(&again)
    );
    app.stop().await;
}

/// Collects what a subscriber writes, for assertions on log lines.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn request_logs_name_the_route_template_not_the_raw_path() {
    let db = TestDb::create(Backend::Sqlite).await;
    let app = App::build(
        Config::for_tests(&db.url),
        Arc::new(boxoffice::clock::SystemClock),
    )
    .await
    .unwrap();
    let router = boxoffice::http::router(app.state.clone());
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    // A current-thread runtime: the request runs on this thread, under this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let id = uuid::Uuid::new_v4();
    let req = axum::http::Request::get(format!("/api/v1/shows/{id}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(router.oneshot(req).await.unwrap().status(), 404);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("route=/api/v1/shows/{id}"), "{logs}");
    assert!(!logs.contains(&id.to_string()), "raw id logged:\n{logs}");
    drop(_guard);
    app.stop().await;
}

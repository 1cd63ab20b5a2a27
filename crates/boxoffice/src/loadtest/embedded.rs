//! `boxoffice loadtest` without `--url`: a server of its own, in this process, on a
//! temporary SQLite database and a free port, so one command shows what the platform
//! does under an on-sale crowd and leaves nothing behind.
use crate::accounts::NewAccount;
use crate::app::App;
use crate::config::{Config, SecretUrl};
use anyhow::Context;
use rand::distributions::{Alphanumeric, DistString};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct Embedded {
    pub url: String,
    pub admin_email: String,
    pub admin_password: String,
    stop: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
    /// Removed (with the database) when the run ends.
    _dir: tempfile::TempDir,
}

impl Embedded {
    /// Starts the platform with `config`'s tuning (durability, writer) on a fresh
    /// database, with one admin account for the load generator.
    pub async fn start(mut config: Config) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("boxoffice-loadtest-")
            .tempdir()
            .context("creating a temporary folder for the database")?;
        config.database_url = SecretUrl::new(format!(
            "sqlite://{}",
            dir.path().join("loadtest.db").display()
        ));
        config.demo_data = false;
        config.mail_dir = dir.path().join("mail");
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        // Beside a server already on the default admin port.
        config.metrics_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = crate::cli::listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        config.payments.fill_webhook_url(listener.local_addr()?);
        let app = App::build(config, Arc::new(crate::clock::SystemClock)).await?;
        let admin_email = "loadtest-admin@boxoffice.invalid".to_string();
        let admin_password = Alphanumeric.sample_string(&mut rand::thread_rng(), 24);
        app.state
            .accounts
            .create(
                NewAccount {
                    email: admin_email.clone(),
                    password: admin_password.clone(),
                    display_name: "Load test".into(),
                    role: Some("admin".into()),
                },
                true,
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating the load test admin: {e}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            url,
            admin_email,
            admin_password,
            stop,
            server,
            _dir: dir,
        })
    }

    /// Drains the server, flushes its writer and deletes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await.context("the embedded server")??;
        Ok(())
    }
}

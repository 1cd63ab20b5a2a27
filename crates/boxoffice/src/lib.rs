//! boxoffice: a ticketing platform for high-demand on-sales, as one binary.
//!
//! The library exposes [`launch`] (and [`app::App`] for finer control) so the binary
//! stays thin and tests run the real application on port 0.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod audit;
pub mod booking;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod http;
pub mod inventory;
pub mod loadtest;
pub mod mail;
pub mod notifications;
pub mod organizations;
pub mod outbox;
pub mod payments;
pub mod queue;
pub mod ratelimit;
pub mod seating;
pub mod signing;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod tickets;
pub mod timefmt;
pub mod vault;
pub mod web;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Builds the platform from `config` and serves on `listener` until `shutdown`.
pub async fn launch(
    config: config::Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut config = config;
    config.payments.fill_webhook_url(listener.local_addr()?);
    let app = app::App::build(config, Arc::new(clock::SystemClock)).await?;
    if app.state.config.demo_data {
        demo::seed_if_empty(&app.state).await?;
    }
    app.serve(listener, shutdown).await
}

//! Command line: `serve` (default), `migrate`, `loadtest`, `payment-sim`, `gate`, `top`
//! and `admin` tasks, all in one binary so operators deploy exactly one artifact.
use crate::accounts::NewAccount;
use crate::config::Config;
use crate::store::SqlStore;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "boxoffice",
    version,
    about = "Ticketing for high-demand on-sales"
)]
struct Cli {
    /// Configuration file (default: ./boxoffice.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default); `role` says whether the background jobs run too.
    Serve,
    /// Run the background jobs of a scaled deployment (outbox consumers, payments,
    /// webhooks, reconciliation, retention) without a public listener; one per
    /// database, beside any number of `serve` nodes with `role = api`.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Run a flash sale and verify nothing was oversold: against `--url`, or against
    /// a server of its own on a temporary database when no URL is given.
    Loadtest(crate::loadtest::Args),
    /// Run the payment simulator: a card processor with a Stripe-like API, signed
    /// webhooks and knobs for latency, declines, timeouts, duplicates and outages.
    PaymentSim(PaymentSimArgs),
    /// A door scanner: reads QR payloads or ticket codes from stdin, one per line
    /// (`sync` uploads scans made offline), and prints one JSON answer per line.
    /// Scans online; falls back to the signed offline list when the server does not
    /// answer, and syncs again every 30 s while it has offline scans.
    Gate(GateArgs),
    /// A live view of a running server's sale from its metrics: per show and zone,
    /// holds/s, available, held, sold, the reserve p99 and refusals by reason.
    Top(crate::telemetry::top::Args),
    /// Operator tasks on the database.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(clap::Args)]
struct GateArgs {
    /// The platform's address.
    #[arg(
        long,
        env = "BOXOFFICE_GATE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// An API key of the organization (or a staff account's access token).
    #[arg(long, env = "BOXOFFICE_GATE_TOKEN", hide_env_values = true)]
    token: String,
    /// The check-in list this entrance works from.
    #[arg(long, env = "BOXOFFICE_GATE_LIST")]
    list: String,
    /// This gate's name, recorded with its scans.
    #[arg(long, env = "BOXOFFICE_GATE_NAME", default_value = "gate")]
    name: String,
    /// An online answer slower than this counts as no network.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

#[derive(clap::Args)]
struct PaymentSimArgs {
    /// Address to listen on.
    #[arg(long, env = "BOXOFFICE_PAYSIM_BIND", default_value = "127.0.0.1:8090")]
    bind: std::net::SocketAddr,
    /// Key callers present as `Authorization: Bearer …` (boxoffice's
    /// `payments.api_key`). Prefer the variable: arguments show in process lists.
    #[arg(long, env = "BOXOFFICE_PAYSIM_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Where results are posted: boxoffice's public webhook URL.
    #[arg(long, env = "BOXOFFICE_PAYSIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Secret webhooks are signed with (boxoffice's `payments.webhook_secret`).
    #[arg(long, env = "BOXOFFICE_PAYSIM_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: String,
    /// Deliveries of one webhook before it is abandoned (backoff doubles from 250 ms).
    #[arg(long, env = "BOXOFFICE_PAYSIM_WEBHOOK_ATTEMPTS", default_value_t = 5)]
    webhook_attempts: u32,
    /// Delay before every API answer.
    #[arg(long, env = "BOXOFFICE_PAYSIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Time from an accepted intent or refund to its result and webhook.
    #[arg(long, env = "BOXOFFICE_PAYSIM_PROCESSING_MS", default_value_t = 20)]
    processing_ms: u64,
    /// Share of `pm_card_visa` intents declined (0–1).
    #[arg(long, env = "BOXOFFICE_PAYSIM_FAILURE_RATE", default_value_t = 0.0)]
    failure_rate: f64,
    /// Share of API calls that take effect but answer only after 60 s (0–1).
    #[arg(long, env = "BOXOFFICE_PAYSIM_TIMEOUT_RATE", default_value_t = 0.0)]
    timeout_rate: f64,
    /// Share of webhooks delivered twice (0–1).
    #[arg(long, env = "BOXOFFICE_PAYSIM_DUPLICATE_RATE", default_value_t = 0.0)]
    duplicate_rate: f64,
    /// Up to this much random delay per webhook, so they arrive out of order.
    #[arg(long, env = "BOXOFFICE_PAYSIM_REORDER_MS", default_value_t = 0)]
    reorder_ms: u64,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an account with any role.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, env = "BOXOFFICE_NEW_USER_PASSWORD")]
        password: String,
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
    /// Re-encrypt every field sealed at rest under the active key. With keys kept in
    /// the database, a new key is added first (unless --resume finishes an
    /// interrupted run); with `encryption_keys` configured, make the new key active
    /// there, then run this.
    RotateKey {
        /// Only re-encrypt, without adding a key.
        #[arg(long)]
        resume: bool,
    },
    /// Add a new signing key for a purpose (`queue-pass`, `ticket`) and make it the
    /// signing one; the previous key keeps verifying for `signing.overlap_secs`.
    /// Running servers pick it up within a minute.
    RotateSigningKey {
        #[arg(long)]
        purpose: String,
    },
    /// Outbox events a consumer gave up on: list, show, replay or discard them.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
}

#[derive(Subcommand)]
enum DeadLetterCommand {
    /// Letters, most recently failed first.
    List {
        /// Only this consumer's (`notifications`, `audit` …).
        #[arg(long)]
        consumer: Option<String>,
        /// Only letters in this state: open, replayed or discarded.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 50)]
        per_page: u32,
    },
    /// One letter with its event and last error, as JSON.
    Show { id: String },
    /// Runs the consumer's handler on the letter's event now.
    Replay { id: String },
    /// Gives up on an open letter for good.
    Discard { id: String },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    // The load generator's own server logs warnings only, to stderr: its report is
    // the output.
    let quiet_logs = matches!(cli.command, Some(Command::Loadtest(_) | Command::Top(_)));
    let _telemetry = crate::telemetry::init(&crate::telemetry::logs::Settings {
        format: &config.log_format,
        level: if quiet_logs { "warn" } else { "info" },
        to_stderr: quiet_logs,
        otlp_endpoint: config.otlp_endpoint.as_deref(),
        sample_ratio: config.trace_sample_ratio,
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await.map(|()| ExitCode::SUCCESS),
            Command::Worker => worker(config).await.map(|()| ExitCode::SUCCESS),
            Command::Migrate => migrate(&config).await.map(|()| ExitCode::SUCCESS),
            Command::Loadtest(args) => crate::loadtest::run(args, config).await,
            Command::PaymentSim(args) => payment_sim(args).await.map(|()| ExitCode::SUCCESS),
            Command::Gate(args) => gate(args).await.map(|()| ExitCode::SUCCESS),
            Command::Top(args) => crate::telemetry::top::run(args)
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Admin(AdminCommand::CreateUser {
                email,
                password,
                role,
                name,
            }) => create_user(
                config,
                NewAccount {
                    email,
                    password,
                    display_name: name,
                    role: Some(role),
                },
            )
            .await
            .map(|()| ExitCode::SUCCESS),
            Command::Admin(AdminCommand::RotateKey { resume }) => {
                rotate_key(config, resume).await.map(|()| ExitCode::SUCCESS)
            }
            Command::Admin(AdminCommand::RotateSigningKey { purpose }) => {
                rotate_signing_key(config, &purpose)
                    .await
                    .map(|()| ExitCode::SUCCESS)
            }
            Command::Admin(AdminCommand::DeadLetters(command)) => {
                dead_letters(config, command).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "failed");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        bind = %config.bind,
        database = %config.database_url,
        config = ?config,
        "starting boxoffice"
    );
    let listener = listen(config.bind)?;
    crate::launch(config, listener, shutdown_signal()).await
}

async fn worker(mut config: Config) -> anyhow::Result<()> {
    config.role = crate::config::Role::Worker;
    tracing::info!(database = %config.database_url, config = ?config, "starting the boxoffice worker");
    let app =
        crate::app::App::build(config, std::sync::Arc::new(crate::clock::SystemClock)).await?;
    app.work(shutdown_signal()).await
}

/// Binds with a deep accept queue: an on-sale opens thousands of connections in the
/// same second, and a dropped handshake costs the client a one-second retry.
pub(crate) fn listen(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(8192)?)
}

async fn payment_sim(args: PaymentSimArgs) -> anyhow::Result<()> {
    let mut config = paysim::SimulatorConfig::new(args.api_key.into(), args.webhook_secret.into());
    config.webhook_url = args.webhook_url;
    config.webhook_attempts = args.webhook_attempts;
    config.knobs = paysim::SimulatorKnobs {
        latency_ms: args.latency_ms,
        processing_ms: args.processing_ms,
        failure_rate: args.failure_rate,
        timeout_rate: args.timeout_rate,
        duplicate_rate: args.duplicate_rate,
        reorder_ms: args.reorder_ms,
    };
    tracing::info!(
        bind = %args.bind,
        webhook_url = ?config.webhook_url,
        knobs = ?config.knobs,
        "starting the payment simulator"
    );
    let handle = paysim::Simulator::start(config, listen(args.bind)?)?;
    println!("payment simulator on {}", handle.url());
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = SqlStore::connect(config.database_url.expose(), 1, config.durability).await?;
    store.migrate().await?;
    store.close().await;
    println!("migrations applied to {}", config.database_url);
    Ok(())
}

async fn create_user(config: Config, account: NewAccount) -> anyhow::Result<()> {
    // Works beside a running server: no inventory, no background tasks.
    let sql = SqlStore::connect(config.database_url.expose(), 2, config.durability).await?;
    sql.migrate().await?;
    let store: crate::store::DynStore = std::sync::Arc::new(sql.clone());
    // This issuer never signs anything: creating an account issues no tokens.
    let issuer = std::sync::Arc::new(crate::accounts::TokenIssuer::new(
        crate::accounts::tokens::new_signing_secret().as_bytes(),
    ));
    let clock = std::sync::Arc::new(crate::clock::SystemClock);
    use crate::audit::{Action, Actor, AuditEntry, Target};
    let audit = crate::audit::AuditLog::inline(store.clone(), clock.clone());
    let accounts = crate::accounts::AccountService::new(store, issuer, clock, audit.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let created = accounts.create(account, true).await;
    if let Ok(user) = &created {
        audit
            .record(
                AuditEntry::new(Action::AccountCreated, Actor::System)
                    .target(Target::user(user.id))
                    .detail(serde_json::json!({"role": user.role.as_str()})),
            )
            .await;
    }
    sql.close().await;
    let user = created.map_err(|e| anyhow::anyhow!("{}", e.to_problem().detail))?;
    println!(
        "created {} {} ({})",
        user.role.as_str(),
        user.email,
        user.id
    );
    Ok(())
}

async fn rotate_key(config: Config, resume: bool) -> anyhow::Result<()> {
    // Works beside a running server: servers pick the new key up when they meet it.
    let sql = SqlStore::connect(config.database_url.expose(), 2, config.durability).await?;
    sql.migrate().await?;
    let store: crate::store::DynStore = std::sync::Arc::new(sql.clone());
    let rotated = async {
        let vault =
            crate::vault::Vault::load(config.encryption_keys.as_ref(), store.clone()).await?;
        crate::vault::rotation::rotate(&vault, &store, !resume).await
    }
    .await;
    sql.close().await;
    let report = rotated?;
    println!(
        "{} values sealed under key {}{}",
        report.resealed,
        report.active,
        if report.added_key { " (new)" } else { "" }
    );
    Ok(())
}

async fn rotate_signing_key(config: Config, purpose: &str) -> anyhow::Result<()> {
    use crate::signing::{Keyring, Purpose};
    let purpose = Purpose::parse(purpose).ok_or_else(|| {
        let names: Vec<&str> = Purpose::ALL.iter().map(|p| p.name()).collect();
        anyhow::anyhow!("--purpose must be one of {}", names.join(", "))
    })?;
    let sql = SqlStore::connect(config.database_url.expose(), 2, config.durability).await?;
    sql.migrate().await?;
    let store: crate::store::DynStore = std::sync::Arc::new(sql.clone());
    let rotated = async {
        let vault = std::sync::Arc::new(
            crate::vault::Vault::load(config.encryption_keys.as_ref(), store.clone()).await?,
        );
        let clock: crate::clock::DynClock = std::sync::Arc::new(crate::clock::SystemClock);
        let ring = Keyring::load(&config.signing, store.clone(), vault, clock).await?;
        ring.rotate(purpose).await
    }
    .await;
    sql.close().await;
    println!("{} now signs with key {}", purpose.name(), rotated?);
    Ok(())
}

async fn gate(args: GateArgs) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut gate = crate::tickets::gate::Gate::new(
        &args.url,
        &args.token,
        &args.list,
        &args.name,
        std::time::Duration::from_millis(args.timeout_ms.max(100)),
    );
    gate.prepare().await?;
    eprintln!("gate {} ready (list {})", args.name, args.list);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut resync = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if line == "sync" {
                    match gate.sync().await {
                        Ok(results) => println!("{}", serde_json::json!({"synced": results})),
                        Err(e) => eprintln!("sync failed: {e:#}"),
                    }
                    continue;
                }
                match gate.scan(line).await {
                    Ok(answer) => println!("{}", serde_json::to_string(&answer)?),
                    Err(e) => eprintln!("scan failed: {e:#}"),
                }
            }
            _ = resync.tick(), if gate.pending() > 0 => {
                if let Err(e) = gate.sync().await {
                    tracing::debug!(error = %e, "still offline");
                }
            }
        }
    }
    if gate.pending() > 0 {
        gate.sync()
            .await
            .map_err(|e| e.context("scans made offline were not uploaded"))?;
    }
    Ok(())
}

/// Works beside a running server, against the database: replays run this binary's
/// own handlers (mail goes out through the configured transport before it exits).
async fn dead_letters(config: Config, command: DeadLetterCommand) -> anyhow::Result<ExitCode> {
    use crate::outbox::dead_letters::{DeadLetterQuery, DeadLetterView, Operator};
    use std::sync::Arc;
    let sql = SqlStore::connect(config.database_url.expose(), 2, config.durability).await?;
    sql.migrate().await?;
    let store: crate::store::DynStore = Arc::new(sql.clone());
    let clock: crate::clock::DynClock = Arc::new(crate::clock::SystemClock);
    let stop = tokio_util::sync::CancellationToken::new();
    let (mail, sender) = crate::mail::MailService::start(
        crate::mail::mailer_from_config(&config)?,
        crate::mail::RetryPolicy {
            attempts: config.mail_attempts.max(1),
            ..crate::mail::RetryPolicy::default()
        },
        stop.clone(),
    );
    let sender = tokio::spawn(sender);
    let consumers = Arc::new(crate::outbox::Consumers::default());
    let settings = crate::outbox::ConsumerSettings {
        batch: 1,
        gap_grace: std::time::Duration::from_secs(5),
        backoff: config.outbox_backoff(),
    };
    let handlers: [(&'static str, Arc<dyn crate::outbox::OutboxHandler>); 2] = [
        (
            crate::audit::OUTBOX_CONSUMER,
            Arc::new(crate::audit::BookingAuditProjection::new(store.clone())),
        ),
        (
            crate::notifications::OUTBOX_CONSUMER,
            Arc::new(crate::notifications::NotificationProjection::new(
                store.clone(),
                mail.clone(),
                clock.clone(),
                config.notification_emails_per_hour,
            )),
        ),
    ];
    for (name, handler) in handlers {
        consumers.register(Arc::new(crate::outbox::OutboxConsumer::new(
            name,
            store.clone(),
            handler,
            clock.clone(),
            settings,
        )));
    }
    let service = crate::outbox::DeadLetterService::new(store, consumers, clock);
    let who = Operator::Console;
    let line = |l: &DeadLetterView| {
        let error: String = l.last_error.chars().take(60).collect();
        format!(
            "{}  {:<14} {:<9} {:>3}  {:<24} {}  {}",
            l.id, l.consumer, l.status, l.attempts, l.event.event_type, l.last_failed_at, error
        )
    };
    let outcome: anyhow::Result<ExitCode> = async {
        let err = |e: crate::error::Error| anyhow::anyhow!("{}", e.to_problem().detail);
        match command {
            DeadLetterCommand::List {
                consumer,
                status,
                page,
                per_page,
            } => {
                let listed = service
                    .list(
                        who,
                        DeadLetterQuery {
                            consumer,
                            status,
                            page: Some(page),
                            per_page: Some(per_page),
                        },
                    )
                    .await
                    .map_err(err)?;
                for l in &listed.items {
                    println!("{}", line(l));
                }
                println!(
                    "{} of {} letters (page {})",
                    listed.items.len(),
                    listed.total,
                    listed.page
                );
                Ok(ExitCode::SUCCESS)
            }
            DeadLetterCommand::Show { id } => {
                let l = service.get(who, &id).await.map_err(err)?;
                println!("{}", serde_json::to_string_pretty(&l)?);
                Ok(ExitCode::SUCCESS)
            }
            DeadLetterCommand::Replay { id } => {
                let l = service.replay(who, &id).await.map_err(err)?;
                if !mail.idle(std::time::Duration::from_secs(60)).await {
                    eprintln!("warning: mail still undelivered when giving up waiting");
                }
                println!("{}", line(&l));
                if l.status == "replayed" {
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("the replay failed; the letter stays open: {}", l.last_error);
                    Ok(ExitCode::FAILURE)
                }
            }
            DeadLetterCommand::Discard { id } => {
                let l = service.discard(who, &id).await.map_err(err)?;
                println!("{}", line(&l));
                Ok(ExitCode::SUCCESS)
            }
        }
    }
    .await;
    stop.cancel();
    let _ = sender.await;
    sql.close().await;
    outcome
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; draining");
}

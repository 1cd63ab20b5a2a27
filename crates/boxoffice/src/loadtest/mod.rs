//! `boxoffice loadtest`: a flash sale against a running server (or one of its own),
//! then a check through the public API that nothing was oversold and every
//! acknowledged hold was kept.
mod api;
mod args;
mod client;
mod embedded;
mod flood;
pub mod queue;
mod report;
mod run;
mod seatstatus;
mod stats;
mod streams;
mod verify;

pub use args::{Args, RateLimitMode};

use anyhow::Context;
use args::Settings;
use hyper::http::HeaderValue;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use std::time::Instant;

fn progress_bar(quiet: bool, len: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{bar:20}] {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Tells the operator what happens during setup (stderr, so stdout stays the report).
fn note(quiet: bool, message: &str) {
    if !quiet {
        eprintln!("{message}");
    }
}

/// Signs up `buyers` accounts with progress notes; their tokens and the seconds it took.
async fn provision(api: &api::Api, buyers: u32, quiet: bool) -> anyhow::Result<(Vec<String>, f64)> {
    let started = Instant::now();
    let tokens = api
        .provision(buyers, |done| {
            note(quiet, &format!("provisioned {done} of {buyers} buyers"))
        })
        .await?;
    Ok((tokens, started.elapsed().as_secs_f64()))
}

pub async fn run(args: Args, mut config: crate::config::Config) -> anyhow::Result<ExitCode> {
    let mut s = Settings::from_args(&args)?;
    // The sale is paid only when asked: `--confirm` confirms holds directly.
    if args.checkout {
        config.payments.gateway = crate::config::GatewayKind::Simulator;
        config.payments.simulator.latency_ms = args.gateway_latency_ms;
        config.payments.simulator.processing_ms = args.gateway_latency_ms;
    } else {
        config.payments.gateway = crate::config::GatewayKind::None;
    }
    if args.queue {
        // One machine plays every buyer: joins all come from one address.
        config.queue.joins_per_ip_per_minute = 0;
    }
    match args.rate_limits {
        RateLimitMode::Raised => config.rate_limits = crate::config::RateLimits::raised(),
        RateLimitMode::Off => config.rate_limits.enabled = false,
        RateLimitMode::Configured => {}
    }
    let embedded = match args.url {
        Some(_) => None,
        None => {
            note(
                args.quiet,
                &format!(
                    "starting a server on a temporary SQLite database (durability {:?}); \
                     pass --url to test a running one",
                    config.durability
                ),
            );
            let server = embedded::Embedded::start(config).await?;
            s.url = server.url.clone();
            s.nodes = vec![server.url.clone()];
            Some(server)
        }
    };
    let admin = match (&embedded, &args.admin_email, &args.admin_password) {
        (Some(server), _, _) => (server.admin_email.clone(), server.admin_password.clone()),
        (None, Some(email), Some(password)) => (email.clone(), password.clone()),
        (None, _, _) => anyhow::bail!("--url needs --admin-email and --admin-password"),
    };
    let result = if args.queue {
        queued_sale(&args, &s, &admin.0, &admin.1).await
    } else {
        sale(&args, &s, &admin.0, &admin.1).await
    };
    if let Some(server) = embedded {
        server.stop().await?;
    }
    result
}

/// Provisions the buyers, then runs an on-sale through the waiting room.
async fn queued_sale(
    args: &Args,
    s: &Settings,
    admin_email: &str,
    admin_password: &str,
) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.pre_queue_share) {
        anyhow::bail!("--pre-queue-share must be 0 to 1");
    }
    let api = api::Api::login(&s.url, admin_email, admin_password).await?;
    let (tokens, took) = provision(&api, s.buyers, args.quiet).await?;
    note(args.quiet, &format!("buyers ready in {took:.1} s"));
    if let Some(hold) = args.hold_streams {
        let run = streams::StreamRun {
            hold: std::time::Duration::from_secs(hold),
            http2: args.http2,
            concurrency: s.clients,
            server_pid: args.server_pid,
        };
        let passed = streams::run(&api, &s.url, tokens, &run).await?;
        return Ok(if passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let run = queue::QueueRun {
        buyers: s.buyers,
        capacity: s.capacity,
        rate_per_sec: args.queue_rate.max(1),
        pre_queue_share: args.pre_queue_share,
        sse: args.sse,
        opens_in_secs: args.opens_in,
        concurrency: s.clients,
        http2: args.http2,
    };
    let passed = queue::run(&api, &s.nodes, tokens, &run).await?;
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Creates the show and the buyers, runs the load, verifies and reports.
async fn sale(
    args: &Args,
    s: &Settings,
    admin_email: &str,
    admin_password: &str,
) -> anyhow::Result<ExitCode> {
    let mut targets = Vec::with_capacity(s.nodes.len());
    for node in &s.nodes {
        targets.push(client::Target::resolve(node).await?);
    }
    let target = targets.first().cloned().context("no --url")?;
    let api = api::Api::login(&s.url, admin_email, admin_password).await?;
    let (show, s) = match &s.show {
        Some(id) => {
            let existing = api.existing_show(id).await?;
            if s.quantity > existing.per_user_limit {
                anyhow::bail!(
                    "--quantity {} is above the show's limit of {} per buyer",
                    s.quantity,
                    existing.per_user_limit
                );
            }
            let mut s = s.clone();
            s.capacity = existing.capacity;
            s.per_user_limit = existing.per_user_limit;
            (existing.show, s)
        }
        None => (
            api.create_show(s.capacity, s.per_user_limit).await?,
            s.clone(),
        ),
    };
    let s = &s;
    let seats = match s.seated {
        Some(_) => api.seat_show(&show, s.capacity).await?,
        None => Vec::new(),
    };
    note(
        args.quiet,
        &format!(
            "show {} {}: {} {}, limit {} per buyer",
            show.id,
            if s.show.is_some() {
                "on sale"
            } else {
                "created"
            },
            s.capacity,
            match s.seated {
                Some(args::SeatPick::Best) => "numbered seats sold by best available",
                Some(args::SeatPick::Random) => "numbered seats picked at random",
                None => "tickets",
            },
            s.per_user_limit
        ),
    );
    let (tokens, took) = provision(&api, s.buyers, args.quiet).await?;
    note(
        args.quiet,
        &format!(
            "buyers ready in {took:.1} s; opening {} connections",
            s.clients
        ),
    );
    let tokens = tokens
        .iter()
        .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
        .collect::<Result<Vec<_>, _>>()
        .context("the server issued a token that is not a valid header value")?;
    let body = match (s.seated, seats) {
        (None, _) => run::Body::Fixed(
            serde_json::to_vec(&serde_json::json!({
                "show_id": show.id,
                "zone_id": show.zone_id,
                "quantity": s.quantity,
            }))?
            .into(),
        ),
        (Some(args::SeatPick::Best), _) => run::Body::Fixed(
            serde_json::to_vec(&serde_json::json!({
                "show_id": show.id,
                "items": [{"zone_id": show.zone_id, "best_available": s.quantity}],
            }))?
            .into(),
        ),
        (Some(args::SeatPick::Random), seats) => run::Body::RandomSeats {
            show_id: show.id.clone(),
            seats,
            quantity: s.quantity as usize,
        },
    };
    let conns = run::connect_all(&targets, s.clients).await?;
    let flood = match args.login_flood {
        Some(rate) => Some((rate, flood::prepare(&target).await?)),
        None => None,
    };
    let flood = flood.map(|(rate, conns)| tokio::spawn(flood::run(conns, rate, s.duration)));
    let load = run::Load {
        settings: s.clone(),
        body,
        tokens,
    };
    let bar = progress_bar(args.quiet, s.duration.as_millis() as u64);
    let outcome = run::run(load, conns, &bar, &api, &show).await;
    bar.finish_and_clear();
    let outcome = outcome?;
    let flood = match flood {
        Some(task) => Some(task.await.context("the login flood")?),
        None => None,
    };

    let seen = verify::Observed {
        capacity: s.capacity,
        per_user_limit: s.per_user_limit,
        quantity: s.quantity,
        holds: outcome.stats.holds(),
        confirmed: s.completes().then_some(outcome.stats.confirmed),
        max_holds_per_buyer: outcome.per_buyer.iter().copied().max().unwrap_or(0),
        false_limit_reached: outcome
            .per_buyer
            .iter()
            .zip(&outcome.limited)
            .filter(|(n, limited)| **limited && (**n + 1) * s.quantity <= s.per_user_limit)
            .count() as u64,
        sold_out_seen: outcome.sold_out_seen,
        unanswered: outcome.stats.errors.values().sum(),
    };
    let checks = verify::verify(&api, &show, &seen)
        .await
        .context("verifying the sale")?;
    let summary = report::Summary::of(&outcome);
    println!("{}", report::text(s, &outcome, &summary, &checks));
    if let Some(f) = &flood {
        println!(
            "login flood: {} sent at {} req/s from one address; {} passed the limiter ({})",
            f.sent(),
            f.rate,
            f.passed(),
            f.status
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let status = match s.seated {
        Some(_) => {
            let f = seatstatus::measure(&target, &show.id, s.clients, Duration::from_secs(3))
                .await
                .context("measuring the seat status endpoint")?;
            println!(
                "seat status: {:.0} req/s full ({} bytes), {:.0} req/s 304 with the ETag ({} errors)",
                f.full_per_sec, f.body_bytes, f.not_modified_per_sec, f.errors
            );
            Some(f)
        }
        None => None,
    };
    if args.json {
        let mut doc = report::json(s, &outcome, &summary, &checks, &show.id);
        if let (Some(f), Some(obj)) = (&status, doc.as_object_mut()) {
            obj.insert(
                "seat_status".into(),
                serde_json::json!({"full_per_sec": f.full_per_sec, "not_modified_per_sec": f.not_modified_per_sec,
                    "body_bytes": f.body_bytes, "errors": f.errors}),
            );
        }
        if let (Some(f), Some(obj)) = (&flood, doc.as_object_mut()) {
            obj.insert("login_flood".into(), f.json());
        }
        println!("{doc}");
    }
    Ok(if checks.iter().all(|c| c.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

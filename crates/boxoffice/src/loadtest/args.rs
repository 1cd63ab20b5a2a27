//! Command-line options of `boxoffice loadtest` and the settings derived from them,
//! checked up front so a bad combination fails before any account is created.
use anyhow::{bail, Context};
use clap::Args as ClapArgs;
use std::time::Duration;

/// Connections used in closed-loop mode unless `--clients` says otherwise.
pub const CLOSED_LOOP_CLIENTS: usize = 64;
/// Connections used in open-loop mode unless `--clients` says otherwise: enough that a
/// slow answer does not delay the requests scheduled after it.
pub const OPEN_LOOP_CLIENTS: usize = 256;

#[derive(ClapArgs, Debug, Clone)]
pub struct Args {
    /// Base URL of a running server (plain HTTP); several, comma-separated, spread the
    /// reserves over API nodes of one deployment (the show is created and checked
    /// through the first). With `--queue`, each buyer joins through one node and
    /// follows its place and reserves through the next. Without it, the load test starts a server of its own on a
    /// temporary database and removes it afterwards.
    #[arg(long, env = "BOXOFFICE_LOADTEST_URL", requires_all = ["admin_email", "admin_password"])]
    pub url: Option<String>,
    /// Email of an admin account on that server (with --url).
    #[arg(long, env = "BOXOFFICE_LOADTEST_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of that admin account (with --url).
    #[arg(
        long,
        env = "BOXOFFICE_LOADTEST_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
    /// Sell this existing show of the server (with --url) instead of creating one: its
    /// first zone, which must have nothing held or sold yet, with the show's capacity
    /// and per-buyer limit (--capacity and --per-user-limit are then not used). Open
    /// the show's sales dashboard to watch the sale live.
    #[arg(long, value_name = "SHOW_ID", requires = "url", conflicts_with_all = ["seated", "queue"])]
    pub show: Option<uuid::Uuid>,
    /// Tickets in the one zone of the show on sale.
    #[arg(long, default_value_t = 1000)]
    pub capacity: u32,
    /// Buyer accounts to provision; requests go to them round robin.
    #[arg(long, default_value_t = 1000)]
    pub buyers: u32,
    /// Most tickets one buyer may hold or own (the server allows 1 to 100).
    #[arg(long, default_value_t = 6)]
    pub per_user_limit: u32,
    /// Tickets per reserve request.
    #[arg(long, default_value_t = 1)]
    pub quantity: u32,
    /// Concurrent keep-alive connections [default: 64, or 256 with --rate].
    #[arg(long)]
    pub clients: Option<usize>,
    /// Open loop: schedule requests at this many per second (latency counts from the
    /// scheduled instant). Without it: closed loop, each connection sends as fast as
    /// it gets answers.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many reserve requests.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Confirm every successful hold (the embedded server takes no payment then).
    #[arg(long, conflicts_with = "checkout")]
    pub confirm: bool,
    /// Buy every successful hold through the payment provider: checkout, then wait
    /// for the captured payment to confirm it (the embedded server runs its payment
    /// simulator). Reports complete purchases per second and their latency.
    #[arg(long)]
    pub checkout: bool,
    /// The embedded server's simulated provider takes this long to answer each call
    /// and again to capture (with --checkout, without --url).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub gateway_latency_ms: u64,
    /// Stop once the server answers sold out and no tickets remain [default: true in
    /// closed loop, false with --rate].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub stop_when_sold_out: Option<bool>,
    /// Print a summary JSON object as the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Rate limits of the server this command starts (without --url): `raised` far
    /// above what is sent yet counted on every request, `off`, or `configured` (as the
    /// configuration and BOXOFFICE_RATE_LIMITS__* say).
    #[arg(long, value_enum, default_value_t = RateLimitMode::Raised)]
    pub rate_limits: RateLimitMode,
    /// Sell numbered seats instead of general admission: the show is an arena of
    /// `--capacity` seats in rows of 100, bought by `best` available (adjacent seats
    /// chosen by the server) or by `random` picks of neighbouring seats.
    #[arg(long, value_enum, value_name = "PICK")]
    pub seated: Option<SeatPick>,
    /// Beside the reserve load, send this many wrong-password logins a second from
    /// this machine's address; the report counts how many the server let through.
    #[arg(long, value_name = "PER_SECOND")]
    pub login_flood: Option<f64>,
    /// An on-sale through the waiting room: every buyer joins (some before opening),
    /// follows its place, and reserves one ticket with its pass once admitted.
    #[arg(long, conflicts_with_all = ["checkout", "confirm", "rate", "login_flood"])]
    pub queue: bool,
    /// With --queue: buyers admitted per second.
    #[arg(long, default_value_t = 2000)]
    pub queue_rate: u32,
    /// With --queue: the share of buyers who join in the pre-queue window.
    #[arg(long, default_value_t = 0.2)]
    pub pre_queue_share: f64,
    /// With --queue: how many buyers follow over Server-Sent Events (the others poll).
    #[arg(long, default_value_t = 1000)]
    pub sse: u32,
    /// With --queue: seconds until the queue opens (pre-queue joins come before).
    #[arg(long, default_value_t = 5)]
    pub opens_in: u32,
    /// With --queue, instead of a sale: every buyer joins a paused queue and follows
    /// it over Server-Sent Events; the streams are held this many seconds, and the
    /// report gives how many opened and stayed open (and the server's memory per
    /// stream with --server-pid).
    #[arg(long, value_name = "SECS", requires = "queue")]
    pub hold_streams: Option<u64>,
    /// With --queue: event streams over HTTP/2 (prior knowledge), 100 to a
    /// connection, instead of a connection each.
    #[arg(long, requires = "queue")]
    pub http2: bool,
    /// The server's process id on this machine: in a sale, its CPU time over the run
    /// is reported (CPU per request, what the server's capacity depends on); with
    /// --hold-streams, its resident memory before and with the streams open.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
}

/// How buyers choose seats with `--seated`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeatPick {
    Best,
    Random,
}

/// How the embedded server limits requests.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitMode {
    Raised,
    Off,
    Configured,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Closed,
    Open { rate: f64 },
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Closed => "closed",
            Mode::Open { .. } => "open",
        }
    }

    pub fn rate(self) -> Option<f64> {
        match self {
            Mode::Closed => None,
            Mode::Open { rate } => Some(rate),
        }
    }
}

/// What to run, validated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The server's base URL (the first of `--url`); empty until the embedded server
    /// is up.
    pub url: String,
    /// Every node reserves are sent to: `url` and the others of `--url`.
    pub nodes: Vec<String>,
    pub capacity: u32,
    pub buyers: u32,
    pub per_user_limit: u32,
    pub quantity: u32,
    pub clients: usize,
    pub mode: Mode,
    pub duration: Duration,
    pub requests: Option<u64>,
    pub confirm: bool,
    /// Pay for every hold (checkout) and wait for its confirmation.
    pub checkout: bool,
    pub stop_when_sold_out: bool,
    pub seated: Option<SeatPick>,
    /// An existing show to sell instead of a new one.
    pub show: Option<String>,
    /// The server's process, to read its CPU time over the run.
    pub server_pid: Option<u32>,
}

impl Settings {
    /// Whether every hold is taken to a sale (confirmed or paid).
    pub fn completes(&self) -> bool {
        self.confirm || self.checkout
    }
}

impl Settings {
    pub fn from_args(a: &Args) -> anyhow::Result<Self> {
        if !(1..=100).contains(&a.per_user_limit) {
            bail!("--per-user-limit must be 1 to 100");
        }
        if a.quantity < 1 || a.quantity > a.per_user_limit {
            bail!("--quantity must be 1 to --per-user-limit");
        }
        if a.capacity < 1 {
            bail!("--capacity must be at least 1");
        }
        if a.buyers < 1 {
            bail!("--buyers must be at least 1");
        }
        if a.clients == Some(0) {
            bail!("--clients must be at least 1");
        }
        if a.login_flood.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
            bail!("--login-flood must be a positive number of requests per second");
        }
        if a.requests == Some(0) {
            bail!("--requests must be at least 1");
        }
        if !(a.duration.is_finite() && a.duration > 0.0) {
            bail!("--duration must be a positive number of seconds");
        }
        let duration = Duration::try_from_secs_f64(a.duration).context("--duration")?;
        let nodes: Vec<String> = a
            .url
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        let mode = match a.rate {
            None => Mode::Closed,
            Some(r) if r.is_finite() && r > 0.0 => Mode::Open { rate: r },
            Some(_) => bail!("--rate must be a positive number of requests per second"),
        };
        let default_clients = match mode {
            Mode::Closed => CLOSED_LOOP_CLIENTS,
            Mode::Open { .. } => OPEN_LOOP_CLIENTS,
        };
        Ok(Self {
            url: nodes.first().cloned().unwrap_or_default(),
            nodes,
            capacity: a.capacity,
            buyers: a.buyers,
            per_user_limit: a.per_user_limit,
            quantity: a.quantity,
            clients: a.clients.unwrap_or(default_clients),
            mode,
            duration,
            requests: a.requests,
            confirm: a.confirm,
            checkout: a.checkout,
            stop_when_sold_out: a.stop_when_sold_out.unwrap_or(matches!(mode, Mode::Closed)),
            seated: a.seated,
            show: a.show.map(|id| id.to_string()),
            server_pid: a.server_pid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn settings(extra: &[&str]) -> anyhow::Result<Settings> {
        let mut argv = vec![
            "lt",
            "--url",
            "http://127.0.0.1:8080/",
            "--admin-email",
            "a@b.example",
            "--admin-password",
            "x",
        ];
        argv.extend_from_slice(extra);
        Settings::from_args(&Cli::try_parse_from(argv)?.args)
    }

    #[test]
    fn defaults_depend_on_the_mode() {
        let closed = settings(&[]).unwrap();
        assert_eq!(closed.mode, Mode::Closed);
        assert_eq!(closed.clients, CLOSED_LOOP_CLIENTS);
        assert!(closed.stop_when_sold_out);
        assert_eq!(closed.duration, Duration::from_secs(10));
        let open = settings(&["--rate", "500"]).unwrap();
        assert_eq!(open.mode, Mode::Open { rate: 500.0 });
        assert_eq!(open.clients, OPEN_LOOP_CLIENTS);
        assert!(!open.stop_when_sold_out);
        let explicit = settings(&["--rate", "500", "--clients", "8"]).unwrap();
        assert_eq!(explicit.clients, 8);
        assert_eq!(closed.url, "http://127.0.0.1:8080");
    }

    #[test]
    fn a_url_needs_an_admin_and_no_url_needs_nothing() {
        assert!(Cli::try_parse_from(["lt"]).unwrap().args.url.is_none());
        assert!(Cli::try_parse_from(["lt", "--url", "http://127.0.0.1:1"]).is_err());
        assert!(Cli::try_parse_from([
            "lt",
            "--url",
            "http://127.0.0.1:1",
            "--admin-email",
            "a@b.example"
        ])
        .is_err());
    }

    #[test]
    fn stop_when_sold_out_takes_an_optional_value() {
        assert!(
            settings(&["--rate", "5", "--stop-when-sold-out"])
                .unwrap()
                .stop_when_sold_out
        );
        assert!(
            !settings(&["--stop-when-sold-out=false"])
                .unwrap()
                .stop_when_sold_out
        );
    }

    #[test]
    fn bad_combinations_are_refused() {
        assert!(settings(&["--per-user-limit", "0"]).is_err());
        assert!(settings(&["--per-user-limit", "101"]).is_err());
        assert!(settings(&["--quantity", "7"]).is_err());
        assert!(settings(&["--quantity", "0"]).is_err());
        assert!(settings(&["--rate", "0"]).is_err());
        assert!(settings(&["--duration", "-1"]).is_err());
        assert!(settings(&["--clients", "0"]).is_err());
        assert!(settings(&["--login-flood", "0"]).is_err());
        assert!(settings(&["--login-flood", "1000"]).is_ok());
        assert!(settings(&["--quantity", "6"]).is_ok());
        let id = "0190b5d4-55f1-7cc2-9f0e-1f2a3b4c5d6e";
        assert_eq!(settings(&["--show", id]).unwrap().show.as_deref(), Some(id));
        assert!(settings(&["--show", "tomorrow"]).is_err());
        assert!(settings(&["--show", id, "--seated", "best"]).is_err());
        assert!(
            Cli::try_parse_from(["lt", "--show", id]).is_err(),
            "--show needs --url"
        );
    }
}

//! Typed, layered configuration: defaults < `boxoffice.toml` (or `--config`) <
//! `BOXOFFICE_*` environment variables. Secrets are wrapped so logs never show them.
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

pub use crate::store::Durability;

/// A service URL that may carry a password (`postgres://user:secret@host/db`). It
/// prints with the password masked, so logging a `Config` never leaks it; the
/// clear text is reached only through [`SecretUrl::expose`].
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for the driver that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.0.clone(),
            // Not a URL we can take apart: hide whatever precedes the host.
            Err(_) => match self.0.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => self.0.clone(),
            },
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address `serve` listens on.
    pub bind: SocketAddr,
    /// `sqlite://path` (embedded) or `postgres://…` (scaled out).
    pub database_url: SecretUrl,
    pub database_max_connections: u32,
    /// What this process runs: `all` (the API and every background job; the default),
    /// `api` (the API only: an API node of the scaled mode, which needs `redis_url`)
    /// or `worker` (the background jobs only; `boxoffice worker`).
    pub role: Role,
    /// `redis://host:port`: live inventory in Redis (scaled mode). Unset, it lives in
    /// the process.
    pub redis_url: Option<SecretUrl>,
    /// `nats://host:4222`: the worker relays every outbox event to NATS JetStream
    /// (subjects `boxoffice.<event type>`) for consumers outside boxoffice.
    pub nats_url: Option<SecretUrl>,
    /// The JetStream stream the relay publishes to (created when missing).
    pub nats_stream: String,
    /// Multiplexed connections to Redis.
    pub redis_connections: usize,
    /// A Redis call that takes longer fails; the request is answered 503.
    pub redis_timeout_ms: u64,
    /// `full` (default): an acknowledged write survives a power cut. `normal`: it
    /// survives a crash of boxoffice, not of the machine.
    pub durability: Durability,
    /// HMAC key for access tokens; generated and kept in the database when unset.
    pub jwt_secret: Option<SecretString>,
    /// Seed demo accounts and events into an empty database.
    pub demo_data: bool,
    /// `pretty` or `json` logs.
    pub log_format: String,
    /// Serve Prometheus metrics on the admin listener.
    pub metrics: bool,
    /// The admin listener (`GET /metrics`): keep it on loopback or a private network;
    /// it is never the public port.
    pub metrics_addr: SocketAddr,
    /// OTLP/HTTP collector that receives traces (`http://127.0.0.1:4318`); unset, no
    /// span is exported.
    pub otlp_endpoint: Option<String>,
    /// Share of new traces exported (0 to 1); a caller's `traceparent` decision is
    /// followed.
    pub trace_sample_ratio: f64,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Most booking writes committed in one transaction.
    pub writer_batch_max: usize,
    /// Group-commit writer tasks; 0 picks 1 for SQLite and 2 for PostgreSQL (raise it when PostgreSQL has its own machine).
    pub writer_tasks: usize,
    /// How often the expiry job looks for holds past their deadline.
    pub expiry_interval_ms: u64,
    /// How often live inventory is compared with the record (`inventory_drift`).
    pub reconcile_interval_secs: u64,
    /// Requests running longer are answered 503.
    pub request_timeout_secs: u64,
    /// Idempotency keys are kept this long.
    pub idempotency_ttl_secs: i64,
    /// Header in which a trusted reverse proxy names the client (`x-forwarded-for`,
    /// `x-real-ip`); unset, the socket peer is the client. Set it only behind a proxy
    /// that overwrites the header, or any caller can choose their address.
    pub trusted_proxy_header: Option<String>,
    /// Token buckets per caller and class of request (`rate_limits.<class>.per_minute`,
    /// `.burst`; `BOXOFFICE_RATE_LIMITS__LOGIN__BURST=5` in the environment).
    pub rate_limits: RateLimits,
    /// Keys that seal fields at rest (TOTP secrets): `{ active = "k2", keys = { k1 =
    /// "<base64 of 32 bytes>", k2 = "…" } }`. Unset: generated and kept in the
    /// database (`boxoffice admin rotate-key` adds one there).
    pub encryption_keys: Option<crate::vault::KeyConfig>,
    /// Platform roles (`buyer`, `organizer`, `admin`) that must enable MFA before
    /// they may use anything but enrolment and `GET /auth/me`.
    pub mfa_required_roles: Vec<String>,
    /// Members of an organization must have MFA to act in it (its endpoints and
    /// catalog writes); API keys are exempt.
    pub mfa_required_for_members: bool,
    /// How mail leaves: `folder` (`.eml` files in `mail_dir`) or `smtp` (`smtp_url`).
    pub mail_transport: MailTransport,
    /// `smtp://user:pass@host:port` (`?tls=required` for STARTTLS) or `smtps://…`.
    pub smtp_url: Option<SecretUrl>,
    /// One SMTP attempt gives up after this long.
    pub smtp_timeout_secs: u64,
    /// Sender of every message (`Name <address>` or an address).
    pub mail_from: String,
    /// Folder of the `folder` transport.
    pub mail_dir: std::path::PathBuf,
    /// Delivery attempts per message, the first included.
    pub mail_attempts: u32,
    /// How often outbox consumers look for new events when no commit woke them.
    pub outbox_poll_ms: u64,
    /// Least time between two reads of one outbox consumer while commits keep
    /// coming: one read then takes every event since the last instead of one read
    /// per commit. An idle consumer still reads at the first commit.
    pub outbox_pace_ms: u64,
    /// Attempts an outbox consumer makes at an event, the first included, before
    /// the event becomes a dead letter.
    pub outbox_retry_attempts: u32,
    /// Backoff between attempts: a wait drawn between 0 and
    /// `min(cap, base · 2^(attempt-1))` milliseconds (full jitter).
    pub outbox_retry_base_ms: u64,
    pub outbox_retry_cap_ms: u64,
    /// Outbox events older than this, and handled by every consumer, are pruned.
    pub outbox_retention_hours: u64,
    /// Replayed or discarded dead letters are pruned this long after.
    pub dead_letter_retention_hours: u64,
    /// How often retention runs.
    pub outbox_prune_interval_secs: u64,
    /// Notification emails per user per hour; past it the in-app notification is
    /// still written and the email is recorded as skipped. 0: no limit.
    pub notification_emails_per_hour: u32,
    /// The payment gateway and the checkout saga (`payments.gateway`, …;
    /// `BOXOFFICE_PAYMENTS__GATEWAY=http` in the environment).
    pub payments: PaymentsConfig,
    /// Organizer webhooks: retries, timeouts, secret rotation (`webhooks.retry_base_ms`,
    /// …; `BOXOFFICE_WEBHOOKS__ALLOW_HTTP=true` in the environment).
    pub webhooks: WebhooksConfig,
    /// Ed25519 signing keys (`signing.overlap_secs`, `signing.keys.<purpose>`).
    pub signing: crate::signing::SigningConfig,
    /// The waiting room (`queue.pass_ttl_secs`, …; `BOXOFFICE_QUEUE__POLL_INTERVAL_SECS`).
    pub queue: crate::queue::QueueConfig,
}

/// The `webhooks` section.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Accept plain `http://` endpoint URLs (development, tests); otherwise only
    /// `https://`, so payloads and signatures never cross the network in clear.
    pub allow_http: bool,
    /// Accept endpoints on loopback, private, link-local and other non-public
    /// addresses (development, tests). Off, such URLs are refused at registration and
    /// names resolving only to such addresses are not called, so an endpoint cannot
    /// turn the platform against its own network.
    pub allow_private_addresses: bool,
    /// Delay ceiling after the first failed attempt; it doubles per attempt.
    pub retry_base_ms: u64,
    /// Largest delay ceiling between two attempts.
    pub retry_cap_ms: u64,
    /// A delivery still failing this long after its first attempt is given up.
    pub max_age_secs: u64,
    /// One attempt gives up after this long.
    pub timeout_ms: u64,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_overlap_secs: u64,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// How often the dispatcher looks for due deliveries when nothing woke it.
    pub poll_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_http: false,
            allow_private_addresses: false,
            retry_base_ms: 10_000,
            retry_cap_ms: 3_600_000,
            max_age_secs: 24 * 3600,
            timeout_ms: 10_000,
            secret_overlap_secs: 24 * 3600,
            concurrency: 32,
            poll_ms: 500,
        }
    }
}

/// Which gateway takes the money.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    /// The payment simulator, started inside this process on its own port: the
    /// embedded default, so a sale works with nothing configured.
    #[default]
    Simulator,
    /// A gateway speaking the simulator's API at `payments.gateway_url` (a separate
    /// `boxoffice payment-sim`, or a provider adapter behind the same API).
    Http,
    /// No online payment: holds are confirmed without one (box office sales,
    /// invoices). Buyers confirm paid bookings as they did before payments existed.
    None,
}

/// The `payments` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    pub gateway: GatewayKind,
    /// Base URL of the gateway's API (`http` gateway).
    pub gateway_url: Option<String>,
    /// Credential sent to the gateway.
    #[serde(skip_serializing)]
    pub api_key: Option<SecretString>,
    /// Secret the gateway signs its webhooks with.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<SecretString>,
    /// Where the gateway posts webhooks: the public URL of
    /// `/api/v1/payments/webhook`. Unset: derived from `bind`.
    pub webhook_url: Option<String>,
    /// One gateway call gives up after this long (and is retried with its key).
    pub timeout_ms: u64,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker fails fast before one call may probe.
    pub breaker_open_secs: u64,
    /// How long a hold with a payment in flight may outlive its deadline while the
    /// gateway cannot say whether it captured; then the tickets return to sale and a
    /// later capture follows the late-payment policy.
    pub grace_secs: u64,
    /// An attempt (or refund) whose gateway call got no answer is sent again with
    /// the same idempotency key after this long.
    pub retry_secs: u64,
    /// How often the resolver looks for unsettled payments.
    pub resolve_interval_ms: u64,
    /// Knobs of the in-process simulator (`payments.simulator.latency_ms`, …).
    pub simulator: crate::payments::gateway::SimulatorKnobs,
}

impl PaymentsConfig {
    /// Points the gateway's webhooks at this server when no public URL is set.
    pub fn fill_webhook_url(&mut self, bound: SocketAddr) {
        if self.webhook_url.is_none() {
            let host = if bound.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], bound.port()))
            } else {
                bound
            };
            self.webhook_url = Some(format!(
                "http://{host}{}",
                crate::payments::http::WEBHOOK_PATH
            ));
        }
    }
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            gateway: GatewayKind::Simulator,
            gateway_url: None,
            api_key: None,
            webhook_secret: None,
            webhook_url: None,
            timeout_ms: 5_000,
            breaker_failures: 5,
            breaker_open_secs: 10,
            grace_secs: 120,
            retry_secs: 5,
            resolve_interval_ms: 1_000,
            simulator: Default::default(),
        }
    }
}

/// One token bucket: `burst` requests at once, refilled at `per_minute`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

impl Limit {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }
}

/// The `rate_limits` section: one bucket per caller (the account when signed in,
/// else the client address) and class of request.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Off: no request is counted or refused.
    pub enabled: bool,
    /// With `redis_url`: buckets every node shares, in Redis (login and register: one
    /// Redis call per request; the others decided on the node and reported every
    /// `sync_interval_ms`). Off: each node keeps its own, and a limit holds per node.
    pub shared: bool,
    /// How often a node reports to the shared buckets what it allowed (and learns what
    /// the others took), in one round trip for all its callers.
    pub sync_interval_ms: u64,
    /// `POST /api/v1/auth/login`, per client address.
    pub login: Limit,
    /// `POST /api/v1/auth/register`, per client address.
    pub register: Limit,
    /// `POST /api/v1/bookings/reserve`.
    pub reserve: Limit,
    /// Every other API route.
    pub default: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            shared: true,
            sync_interval_ms: 50,
            login: Limit::new(5, 3),
            register: Limit::new(3, 2),
            reserve: Limit::new(20, 10),
            default: Limit::new(100, 20),
        }
    }
}

impl RateLimits {
    /// Far above what any test or load generator sends, yet counted on every
    /// request, so the limiter's cost stays in what they measure.
    pub fn raised() -> Self {
        let high = Limit::new(1_000_000_000, 1_000_000);
        Self {
            enabled: true,
            shared: true,
            sync_interval_ms: 50,
            login: high,
            register: high,
            reserve: high,
            default: high,
        }
    }

    /// Every class with its name, as in the configuration.
    pub fn classes(&self) -> [(&'static str, Limit); 4] {
        [
            ("login", self.login),
            ("register", self.register),
            ("reserve", self.reserve),
            ("default", self.default),
        ]
    }

    /// Refuses a bucket that could never let a request through.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, limit) in self.classes() {
            if limit.per_minute == 0 {
                anyhow::bail!("rate_limits.{name}.per_minute must be at least 1 (got 0); set rate_limits.enabled = false to turn limits off");
            }
            if limit.burst == 0 {
                anyhow::bail!("rate_limits.{name}.burst must be at least 1 (got 0); set rate_limits.enabled = false to turn limits off");
            }
        }
        Ok(())
    }
}

/// What one process of a deployment runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The API and every background job: the embedded mode, or the one node of a
    /// small deployment.
    #[default]
    All,
    /// The API with only the jobs every node needs (hold expiry, the Redis watch):
    /// any number of these share one Redis inventory.
    Api,
    /// The background jobs (outbox consumers, payments, webhooks, reconciliation,
    /// retention) without a public listener: one per database.
    Worker,
}

impl Role {
    /// Whether this process runs the jobs there must be one of per database.
    pub fn runs_jobs(self) -> bool {
        self != Role::Api
    }
}

/// Where outgoing mail goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// Each message is written as an `.eml` file (development, the embedded default).
    #[default]
    Folder,
    /// Delivered to the SMTP server of `smtp_url`.
    Smtp,
}

/// Every configuration key, as read from `BOXOFFICE_<KEY>` variables.
const KEYS: &[&str] = &[
    "bind",
    "database_url",
    "database_max_connections",
    "role",
    "redis_url",
    "redis_connections",
    "nats_url",
    "nats_stream",
    "redis_timeout_ms",
    "durability",
    "jwt_secret",
    "demo_data",
    "log_format",
    "metrics",
    "metrics_addr",
    "otlp_endpoint",
    "trace_sample_ratio",
    "body_limit_bytes",
    "writer_batch_max",
    "writer_tasks",
    "expiry_interval_ms",
    "reconcile_interval_secs",
    "request_timeout_secs",
    "idempotency_ttl_secs",
    "trusted_proxy_header",
    "encryption_keys",
    "mfa_required_roles",
    "mfa_required_for_members",
    "mail_transport",
    "smtp_url",
    "smtp_timeout_secs",
    "mail_from",
    "mail_dir",
    "mail_attempts",
    "outbox_poll_ms",
    "outbox_pace_ms",
    "outbox_retry_attempts",
    "outbox_retry_base_ms",
    "outbox_retry_cap_ms",
    "outbox_retention_hours",
    "dead_letter_retention_hours",
    "outbox_prune_interval_secs",
    "notification_emails_per_hour",
];

/// Sections set from the environment with `__` between levels.
const SECTIONS: &[&str] = &[
    "rate_limits__",
    "payments__",
    "webhooks__",
    "signing__",
    "queue__",
];

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: SecretUrl::new("sqlite://data/boxoffice.db"),
            database_max_connections: 16,
            role: Role::All,
            redis_url: None,
            redis_connections: 2,
            nats_url: None,
            nats_stream: "BOXOFFICE".into(),
            redis_timeout_ms: 2_000,
            durability: Durability::Full,
            jwt_secret: None,
            demo_data: true,
            log_format: "pretty".into(),
            metrics: true,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9464)),
            otlp_endpoint: None,
            trace_sample_ratio: 0.1,
            body_limit_bytes: 64 * 1024,
            writer_batch_max: 1024,
            writer_tasks: 0,
            expiry_interval_ms: 200,
            reconcile_interval_secs: 15,
            request_timeout_secs: 30,
            idempotency_ttl_secs: 24 * 3600,
            trusted_proxy_header: None,
            rate_limits: RateLimits::default(),
            encryption_keys: None,
            mfa_required_roles: Vec::new(),
            mfa_required_for_members: false,
            mail_transport: MailTransport::Folder,
            smtp_url: None,
            smtp_timeout_secs: 10,
            mail_from: "boxoffice <no-reply@boxoffice.local>".into(),
            mail_dir: "data/mail".into(),
            mail_attempts: 5,
            outbox_poll_ms: 200,
            outbox_pace_ms: 50,
            outbox_retry_attempts: 5,
            outbox_retry_base_ms: 1_000,
            outbox_retry_cap_ms: 60_000,
            outbox_retention_hours: 168,
            dead_letter_retention_hours: 720,
            outbox_prune_interval_secs: 300,
            notification_emails_per_hour: 20,
            payments: PaymentsConfig::default(),
            webhooks: WebhooksConfig::default(),
            signing: crate::signing::SigningConfig::default(),
            queue: crate::queue::QueueConfig::default(),
        }
    }
}

impl Config {
    /// Refuses a role the rest of the configuration cannot serve: API nodes share
    /// live inventory through Redis, or they would sell the same tickets twice.
    pub fn validate_role(&self) -> anyhow::Result<()> {
        if self.role == Role::Api && self.redis_url.is_none() {
            anyhow::bail!(
                "role = api needs redis_url: API nodes share live inventory through Redis (use role = all for one node)"
            );
        }
        Ok(())
    }

    /// Loads the layers; `file` defaults to `boxoffice.toml` when it exists.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        // Defaults of nested sections, so that a layer may set one key of a class.
        let mut figment = Figment::new()
            .merge(Serialized::default("rate_limits", RateLimits::default()))
            .merge(Serialized::default("payments", PaymentsConfig::default()))
            .merge(Serialized::default("webhooks", WebhooksConfig::default()))
            .merge(Serialized::default(
                "signing",
                crate::signing::SigningConfig::default(),
            ))
            .merge(Serialized::default(
                "queue",
                crate::queue::QueueConfig::default(),
            ));
        match file {
            Some(f) => figment = figment.merge(Toml::file_exact(f)),
            None => figment = figment.merge(Toml::file("boxoffice.toml")),
        }
        // Only configuration keys: other `BOXOFFICE_*` variables belong to commands
        // (`loadtest`, `admin`) or the test harness.
        let env = Env::prefixed("BOXOFFICE_").only(KEYS);
        // Sections nest with `__`: `BOXOFFICE_RATE_LIMITS__LOGIN__BURST`.
        let sections = Env::prefixed("BOXOFFICE_")
            .filter(|k| {
                let k = k.as_str().to_ascii_lowercase();
                SECTIONS.iter().any(|s| k.starts_with(s))
            })
            .split("__");
        let config: Config = figment.merge(env).merge(sections).extract()?;
        config.rate_limits.validate()?;
        if !(0.0..=1.0).contains(&config.trace_sample_ratio) {
            anyhow::bail!(
                "trace_sample_ratio must be between 0 and 1 (got {})",
                config.trace_sample_ratio
            );
        }
        Ok(config)
    }

    /// How outbox consumers retry.
    pub fn outbox_backoff(&self) -> crate::outbox::Backoff {
        crate::outbox::Backoff {
            attempts: self.outbox_retry_attempts.max(1),
            base: std::time::Duration::from_millis(self.outbox_retry_base_ms),
            cap: std::time::Duration::from_millis(self.outbox_retry_cap_ms),
        }
    }

    /// A configuration for tests: the given database, port 0, no demo data.
    pub fn for_tests(database_url: &str) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: SecretUrl::new(database_url),
            database_max_connections: 4,
            demo_data: false,
            // Each test's own admin listener.
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            expiry_interval_ms: 50,
            // Tests of rate limits set their own; the rest must never be throttled.
            rate_limits: RateLimits::raised(),
            // Tests of payments choose their gateway; the rest confirm as before.
            payments: PaymentsConfig {
                gateway: GatewayKind::None,
                ..PaymentsConfig::default()
            },
            // Tests join from one address.
            queue: crate::queue::QueueConfig {
                joins_per_ip_per_minute: 0,
                ..crate::queue::QueueConfig::default()
            },
            // Test receivers listen on plain http at 127.0.0.1.
            webhooks: WebhooksConfig {
                allow_http: true,
                allow_private_addresses: true,
                ..WebhooksConfig::default()
            },
            ..Self::default()
        }
    }
}

#[cfg(test)]
// `figment::Jail::expect_with` fixes the closure's error type to `figment::Error`.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn environment_overrides_file_and_secret_is_redacted() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "boxoffice.toml",
                "bind = \"127.0.0.1:9000\"\ndemo_data = false\njwt_secret = \"from-file\"",
            )?;
            jail.set_env("BOXOFFICE_BIND", "127.0.0.1:9100");
            jail.set_env("BOXOFFICE_LOADTEST_ADMIN_EMAIL", "not-a-config-key");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.bind.port(), 9100);
            assert!(!c.demo_data);
            assert_eq!(c.jwt_secret.as_ref().unwrap().expose_secret(), "from-file");
            assert!(!format!("{c:?}").contains("from-file"));
            Ok(())
        });
    }

    #[test]
    fn database_passwords_never_print() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "BOXOFFICE_DATABASE_URL",
                "postgres://bo:pa%40ss-w0rd@db.internal:5432/boxoffice",
            );
            jail.set_env("BOXOFFICE_DURABILITY", "normal");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.durability, Durability::Normal);
            for printed in [format!("{c:?}"), c.database_url.to_string()] {
                assert!(!printed.contains("pa%40ss-w0rd"), "{printed}");
                assert!(printed.contains("postgres://bo:***@db.internal:5432/boxoffice"));
            }
            assert!(c.database_url.expose().contains("pa%40ss-w0rd"));
            assert_eq!(
                SecretUrl::new("sqlite://data/b.db").redacted(),
                "sqlite://data/b.db"
            );
            assert_eq!(SecretUrl::new("not a url:x@y").redacted(), "***@y");
            Ok(())
        });
    }

    #[test]
    fn encryption_keys_and_mfa_roles_load_and_keys_never_print() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "boxoffice.toml",
                "mfa_required_roles = [\"admin\"]\n[encryption_keys]\nactive = \"k1\"\nkeys = { k1 = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\" }",
            )?;
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.mfa_required_roles, ["admin"]);
            let keys = c.encryption_keys.as_ref().unwrap();
            assert_eq!(keys.active, "k1");
            assert!(crate::vault::Vault::from_keys(&keys.active, &keys.keys).is_ok());
            assert!(!format!("{c:?}").contains("MDEyMzQ1"));
            jail.set_env("BOXOFFICE_MFA_REQUIRED_ROLES", "[\"admin\", \"organizer\"]");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.mfa_required_roles, ["admin", "organizer"]);
            Ok(())
        });
    }

    #[test]
    fn smtp_passwords_never_print() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BOXOFFICE_MAIL_TRANSPORT", "smtp");
            jail.set_env(
                "BOXOFFICE_SMTP_URL",
                "smtps://mailer:s3cret-Pw@smtp.example.com:465",
            );
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.mail_transport, MailTransport::Smtp);
            let url = c.smtp_url.as_ref().unwrap();
            for printed in [format!("{c:?}"), url.to_string()] {
                assert!(!printed.contains("s3cret-Pw"), "{printed}");
            }
            assert!(url.expose().contains("s3cret-Pw"));
            assert_eq!(Config::default().mail_transport, MailTransport::Folder);
            Ok(())
        });
    }

    #[test]
    fn webhooks_default_to_https_and_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.webhooks, WebhooksConfig::default());
            assert!(!c.webhooks.allow_http);
            assert_eq!(c.webhooks.max_age_secs, 24 * 3600);
            assert_eq!(c.webhooks.secret_overlap_secs, 24 * 3600);
            jail.create_file("boxoffice.toml", "[webhooks]\nretry_base_ms = 250")?;
            jail.set_env("BOXOFFICE_WEBHOOKS__ALLOW_HTTP", "true");
            jail.set_env("BOXOFFICE_WEBHOOKS__SECRET_OVERLAP_SECS", "60");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert!(c.webhooks.allow_http);
            assert_eq!(c.webhooks.retry_base_ms, 250);
            assert_eq!(c.webhooks.secret_overlap_secs, 60);
            assert_eq!(c.webhooks.retry_cap_ms, 3_600_000);
            jail.set_env("BOXOFFICE_WEBHOOKS__RETRY_BAES_MS", "1");
            assert!(Config::load(None).is_err(), "unknown keys are refused");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("boxoffice.toml", "bnid = \"127.0.0.1:9000\"")?;
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn rate_limits_default_and_come_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.rate_limits, RateLimits::default());
            assert_eq!(c.rate_limits.login, Limit::new(5, 3));
            assert_eq!(c.rate_limits.register, Limit::new(3, 2));
            assert_eq!(c.rate_limits.reserve, Limit::new(20, 10));
            assert_eq!(c.rate_limits.default, Limit::new(100, 20));
            assert_eq!(c.outbox_retention_hours, 168);
            assert_eq!(c.outbox_backoff(), crate::outbox::Backoff::default());
            assert_eq!(c.notification_emails_per_hour, 20);
            jail.create_file(
                "boxoffice.toml",
                "[rate_limits]\nenabled = false\n[rate_limits.reserve]\nper_minute = 40\nburst = 15",
            )?;
            jail.set_env("BOXOFFICE_RATE_LIMITS__LOGIN__BURST", "7");
            jail.set_env("BOXOFFICE_RATE_LIMITS__DEFAULT__PER_MINUTE", "600");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert!(!c.rate_limits.enabled);
            assert_eq!(c.rate_limits.reserve, Limit::new(40, 15));
            assert_eq!(c.rate_limits.login, Limit::new(5, 7));
            assert_eq!(c.rate_limits.default, Limit::new(600, 20));
            jail.set_env("BOXOFFICE_RATE_LIMITS__ENABLED", "true");
            assert!(
                Config::load(None)
                    .map_err(|e| e.to_string())?
                    .rate_limits
                    .enabled
            );
            Ok(())
        });
    }

    #[test]
    fn empty_buckets_fail_at_start_up_naming_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BOXOFFICE_RATE_LIMITS__REGISTER__PER_MINUTE", "0");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("rate_limits.register.per_minute"), "{e}");
            jail.set_env("BOXOFFICE_RATE_LIMITS__REGISTER__PER_MINUTE", "3");
            jail.set_env("BOXOFFICE_RATE_LIMITS__RESERVE__BURST", "0");
            let e = Config::load(None).unwrap_err().to_string();
            assert!(e.contains("rate_limits.reserve.burst"), "{e}");
            jail.set_env("BOXOFFICE_RATE_LIMITS__RESERVE__BURST", "-1");
            assert!(Config::load(None).is_err());
            jail.set_env("BOXOFFICE_RATE_LIMITS__RESERVE__BURST", "2");
            jail.set_env("BOXOFFICE_RATE_LIMITS__RESERVE__BRUST", "2");
            assert!(Config::load(None).is_err(), "unknown keys are refused");
            Ok(())
        });
    }
}

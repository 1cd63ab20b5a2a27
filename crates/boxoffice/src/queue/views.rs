//! What the waiting room's API reads and answers: settings, a buyer's place, the
//! published draw and the organizer's figures.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A show's waiting-room settings, as its organizer sets them.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"method": "random_at_opening", "opens_at": "2027-03-01T10:00:00Z", "admission": "fixed", "rate_per_sec": 50, "pass_ttl_secs": 600}))]
pub struct QueueSettingsInput {
    /// `fifo`, `random_at_opening`, `lottery` or `passthrough`.
    #[schema(schema_with = crate::http::contract::queue_method)]
    pub method: String,
    /// When admissions start (and the draw is made).
    #[schema(schema_with = crate::http::contract::date_time)]
    pub opens_at: String,
    /// `fixed`: `rate_per_sec` buyers a second; `automatic`: as many as the tickets
    /// still available can serve (a finished or abandoned checkout frees its slot).
    #[schema(schema_with = crate::http::contract::queue_admission)]
    pub admission: String,
    /// Buyers admitted per second (fixed admission), 1 to 100,000.
    #[schema(minimum = 1, maximum = 100000)]
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_u32")]
    pub rate_per_sec: Option<u32>,
    /// How long a pass admits its holder, 10 s to 24 h (default `queue.pass_ttl_secs`).
    #[schema(minimum = 10, maximum = 86400)]
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_u32")]
    pub pass_ttl_secs: Option<u32>,
    /// Most places waiting at once (default `queue.max_size`).
    #[schema(minimum = 1, maximum = 10000000)]
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_u64")]
    pub max_size: Option<u64>,
    /// How long before `opens_at` joins are taken (default `queue.pre_queue_secs`).
    #[schema(minimum = 0, maximum = 86400)]
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_u32")]
    pub pre_queue_secs: Option<u32>,
    /// Winners drawn (lottery only, required there).
    #[schema(minimum = 1, maximum = 10000000)]
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_u64")]
    pub lottery_winners: Option<u64>,
    /// Only accounts with a verified email may join.
    pub verified_email_only: Option<bool>,
}

/// A show's waiting room as anyone may see it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueView {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: boxoffice_domain::ShowId,
    #[schema(schema_with = crate::http::contract::queue_method)]
    pub method: String,
    #[schema(schema_with = crate::http::contract::queue_state)]
    pub state: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub opens_at: String,
    /// When joins are first taken.
    #[schema(schema_with = crate::http::contract::date_time)]
    pub joins_from: String,
    #[schema(schema_with = crate::http::contract::queue_admission)]
    pub admission: String,
    /// Configured buyers a second; `null` for automatic admission.
    pub rate_per_sec: Option<u32>,
    pub pass_ttl_secs: u32,
    pub max_size: u64,
    pub pre_queue_secs: u32,
    pub lottery_winners: Option<u64>,
    pub verified_email_only: bool,
    /// Places waiting now.
    pub waiting: u64,
    /// Hex SHA-256 of the draw seed, published from the start.
    pub seed_commitment: String,
    /// The draw seed (hex), published once the draw is made.
    pub seed: Option<String>,
    #[schema(schema_with = crate::http::contract::date_time_or_null)]
    pub drawn_at: Option<String>,
}

/// The action that moves a queue: `pause`, `resume`, `drain` or `close`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueActionInput {
    #[schema(schema_with = crate::http::contract::queue_action)]
    pub action: String,
}

/// A buyer's place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlaceView {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: boxoffice_domain::ShowId,
    #[schema(value_type = String, format = Uuid)]
    pub place_id: uuid::Uuid,
    /// `waiting`, `admitted`, `lost` (lottery), `left`.
    #[schema(schema_with = crate::http::contract::place_status)]
    pub status: String,
    #[schema(schema_with = crate::http::contract::queue_state)]
    pub queue_state: String,
    /// 1 for the next to be admitted; `null` unless waiting.
    pub position: Option<u64>,
    /// People ahead; `null` unless waiting.
    pub ahead: Option<u64>,
    /// Places waiting in all.
    pub waiting: u64,
    /// Seconds until admission, from the admission rate measured over the last
    /// minute (or the configured one); `null` when it cannot be told.
    pub estimated_wait_secs: Option<u64>,
    /// Ask again no sooner than this (also the `Retry-After` header); asking sooner
    /// is answered 429 and slows the caller down further, never moves the place.
    pub poll_after_secs: u64,
    /// Whether the place was taken in the pre-queue window (ordered by the draw).
    pub pre_queue: bool,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub joined_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub opens_at: String,
    /// The queue pass (send it as `X-Queue-Pass` to `POST /bookings/reserve`), once admitted.
    pub pass: Option<String>,
    #[schema(schema_with = crate::http::contract::date_time_or_null)]
    pub pass_expires_at: Option<String>,
}

/// The published draw: anyone can recompute `order` from `seed` and `entrants` with
/// the documented algorithm (ChaCha20 + Fisher–Yates, see the README).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DrawView {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: boxoffice_domain::ShowId,
    #[schema(schema_with = crate::http::contract::queue_method)]
    pub method: String,
    /// Hex of the 32-byte seed.
    pub seed: String,
    pub seed_commitment: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub drawn_at: String,
    /// Place ids of everyone in the draw, in the order they joined.
    #[schema(value_type = Vec<String>)]
    pub entrants: Vec<uuid::Uuid>,
    /// The shuffled order: the queue order, or for a lottery, winners first.
    #[schema(value_type = Vec<String>)]
    pub order: Vec<uuid::Uuid>,
    /// Lottery: how many of `order` won.
    pub winners: Option<u64>,
}

/// Passes by outcome.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct PassFigures {
    pub issued: u64,
    /// Issued, not used, not expired, not revoked.
    pub active: u64,
    pub used: u64,
    pub expired: u64,
    pub revoked: u64,
}

/// The organizer's view of a queue.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueStats {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: boxoffice_domain::ShowId,
    #[schema(schema_with = crate::http::contract::queue_state)]
    pub state: String,
    /// Queue length now.
    pub waiting: u64,
    pub joined: u64,
    pub admitted: u64,
    /// Left the queue before admission.
    pub left: u64,
    /// Lottery entrants not drawn.
    pub lost: u64,
    /// Left the queue, or let their pass expire unused.
    pub abandoned: u64,
    pub passes: PassFigures,
    /// Admissions a second over the last minute.
    pub admission_rate_per_sec: f64,
    /// Configured buyers a second; `null` for automatic admission.
    pub configured_rate_per_sec: Option<u32>,
    /// Time from join to admission of those admitted.
    pub avg_wait_secs: f64,
    pub max_wait_secs: f64,
    /// Status requests answered 429 for coming before `Retry-After`.
    pub early_polls: u64,
}

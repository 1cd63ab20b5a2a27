//! The `queue` configuration section: defaults of new queues and the waiting room's
//! pace, in one place so operators tune them without touching a show.
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// How long before opening joins are taken (and drawn at opening), by default.
    pub pre_queue_secs: u32,
    /// How long a pass admits its holder, by default.
    pub pass_ttl_secs: u32,
    /// Most places waiting at once, by default.
    pub max_size: u64,
    /// How often a waiting buyer near the front should ask for news (`Retry-After`;
    /// further back, a tenth of the estimated wait, up to 30 s).
    pub poll_interval_secs: u32,
    /// New places per client address a minute; 0: no limit.
    pub joins_per_ip_per_minute: u32,
    /// How often the admission task lets people in.
    pub admission_interval_ms: u64,
    /// Shortest time between two updates on one event stream (near the front).
    pub stream_interval_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            pre_queue_secs: 15 * 60,
            pass_ttl_secs: 10 * 60,
            max_size: 1_000_000,
            poll_interval_secs: 5,
            joins_per_ip_per_minute: 30,
            admission_interval_ms: 100,
            stream_interval_ms: 5_000,
        }
    }
}

//! `--login-flood`: password guesses at a fixed rate from this machine's one address,
//! beside the reserve load, to show that the login limit holds under a flood and that
//! the flood does not slow the buyers down.
use super::client::{Conn, Target};
use super::run::{connect_all, scheduled_offset};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub const LOGIN_PATH: &str = "/api/v1/auth/login";
/// Connections of the flood: refusals are quick, so a few keep up with thousands a second.
const FLOOD_CLIENTS: usize = 32;

/// What the flood got back.
#[derive(Debug, Default)]
pub struct FloodOutcome {
    pub rate: f64,
    /// Answers by status.
    pub status: BTreeMap<u16, u64>,
    /// Requests that got no answer.
    pub unanswered: u64,
}

impl FloodOutcome {
    pub fn sent(&self) -> u64 {
        self.status.values().sum::<u64>() + self.unanswered
    }

    /// Attempts the limiter let through to the password check (any answer but 429).
    pub fn passed(&self) -> u64 {
        self.status
            .iter()
            .filter(|(s, _)| **s != 429)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "rate": self.rate,
            "sent": self.sent(),
            "passed": self.passed(),
            "unanswered": self.unanswered,
            "status": self.status.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
        })
    }
}

/// Opens the flood's connections (before the load starts, like the buyers').
pub async fn prepare(target: &Target) -> anyhow::Result<Vec<Conn>> {
    connect_all(std::slice::from_ref(target), FLOOD_CLIENTS).await
}

/// Sends `rate` wrong-password logins a second for `duration` on `conns`.
pub async fn run(conns: Vec<Conn>, rate: f64, duration: Duration) -> FloodOutcome {
    let planned = super::run::planned_requests(rate, duration, None);
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut set = JoinSet::new();
    for mut conn in conns {
        let next = next.clone();
        set.spawn(async move {
            let mut out = FloodOutcome::default();
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= planned {
                    break;
                }
                tokio::time::sleep_until(t0 + scheduled_offset(i, rate)).await;
                let body = Bytes::from(format!(
                    r#"{{"email":"guess-{}@flood.invalid","password":"not the password {i}"}}"#,
                    i % 16
                ));
                match conn.post_anonymous(LOGIN_PATH, body).await {
                    Ok(a) => *out.status.entry(a.status.as_u16()).or_default() += 1,
                    Err(_) => out.unanswered += 1,
                }
            }
            out
        });
    }
    let mut total = FloodOutcome {
        rate,
        ..FloodOutcome::default()
    };
    while let Some(joined) = set.join_next().await {
        if let Ok(part) = joined {
            for (status, n) in part.status {
                *total.status.entry(status).or_default() += n;
            }
            total.unanswered += part.unanswered;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_count_as_held_back() {
        let o = FloodOutcome {
            rate: 1000.0,
            status: BTreeMap::from([(401, 3), (429, 9_997)]),
            unanswered: 2,
        };
        assert_eq!((o.sent(), o.passed()), (10_002, 3));
        assert_eq!(o.json()["status"]["429"], 9_997);
    }
}

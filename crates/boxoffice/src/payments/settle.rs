//! Waiting for a payment's outcome inside one request. A checkout sent with
//! `Prefer: wait=N` (RFC 7240) is woken when the provider's answer lands in this
//! process, so a buyer's page gets the result in one round trip instead of polling.
use boxoffice_domain::BookingId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Longest wait a client may ask for; longer preferences are cut to it.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// The checkouts waiting for their booking's payment to settle.
#[derive(Default)]
pub struct Settlements {
    waiting: Mutex<HashMap<BookingId, Arc<Notify>>>,
}

impl Settlements {
    /// Registers interest in `booking` until the returned guard is dropped. Taken
    /// before the provider is called, so an answer that comes first is not missed.
    pub fn watch(self: &Arc<Self>, booking: BookingId) -> Watch {
        let notify = self.waiting.lock().entry(booking).or_default().clone();
        Watch {
            owner: self.clone(),
            booking,
            notify,
        }
    }

    /// Wakes whoever waits on `booking` (nobody, usually: a cheap map lookup).
    pub fn settled(&self, booking: BookingId) {
        if let Some(n) = self.waiting.lock().get(&booking) {
            n.notify_one();
        }
    }
}

pub struct Watch {
    owner: Arc<Settlements>,
    booking: BookingId,
    notify: Arc<Notify>,
}

impl Watch {
    /// Until the booking's payment may have settled, or `limit` passed; whether woken.
    pub async fn wait(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.notify.notified())
            .await
            .is_ok()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut waiting = self.owner.waiting.lock();
        // Another checkout of the same booking may share the entry; the last one out
        // removes it.
        if Arc::strong_count(&self.notify) <= 2 {
            waiting.remove(&self.booking);
        }
    }
}

/// The wait a `Prefer` header asks for (`wait=N`, seconds), capped at [`MAX_WAIT`].
pub fn preferred_wait(prefer: &str) -> Option<Duration> {
    prefer
        .split(',')
        .flat_map(|p| p.split(';'))
        .map(str::trim)
        .find_map(|token| {
            let (name, value) = token.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            let secs: u64 = value.trim().trim_matches('"').parse().ok()?;
            Some(Duration::from_secs(secs).min(MAX_WAIT))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_preference_is_read_and_capped() {
        assert_eq!(preferred_wait("wait=3"), Some(Duration::from_secs(3)));
        assert_eq!(
            preferred_wait("respond-async, WAIT = 2"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(preferred_wait("wait=600"), Some(MAX_WAIT));
        assert_eq!(preferred_wait("return=minimal"), None);
        assert_eq!(preferred_wait("wait=soon"), None);
        assert_eq!(preferred_wait(""), None);
    }

    #[tokio::test]
    async fn an_outcome_before_the_wait_is_not_missed_and_the_entry_goes() {
        let s = Arc::new(Settlements::default());
        let booking = BookingId::new();
        let watch = s.watch(booking);
        s.settled(booking);
        assert!(watch.wait(Duration::from_secs(5)).await);
        // Nothing more to wake it: the next wait runs out.
        assert!(!watch.wait(Duration::from_millis(20)).await);
        drop(watch);
        assert!(s.waiting.lock().is_empty());
        // Nobody waits: settling is a no-op.
        s.settled(booking);
        assert!(s.waiting.lock().is_empty());
    }
}

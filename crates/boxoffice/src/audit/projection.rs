//! Booking transitions in the audit log, projected from the outbox rather than written
//! per request: the reserve path stays one group commit, and the log still sees every hold.
//!
//! Each entry reuses its outbox event's id, so replaying a batch (a crash between the
//! append and the offset save) inserts nothing twice. The outbox carries the booking
//! but not the request, so these entries have no IP, user agent or request id; the
//! actor is the buyer, except for expiry, which the platform does.
use super::action::Action;
use crate::outbox::{EventFailure, OutboxHandler};
use crate::store::{AuditRecord, AuditStore, OutboxEvent};
use async_trait::async_trait;
use boxoffice_domain::audit::ActorType;
use boxoffice_domain::booking::EVENT_RESERVED;
use serde_json::json;
use std::sync::Arc;

pub struct BookingAuditProjection {
    store: Arc<dyn AuditStore>,
}

impl BookingAuditProjection {
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self { store }
    }
}

fn action_of(event_type: &str) -> Option<Action> {
    Some(match event_type {
        EVENT_RESERVED => Action::BookingHeld,
        "booking.payment_started" => Action::BookingPaymentStarted,
        "booking.confirmed" => Action::BookingConfirmed,
        "booking.cancelled" => Action::BookingCancelled,
        "booking.expired" => Action::BookingExpired,
        "booking.payment_failed" => Action::BookingPaymentFailed,
        "booking.refunded" => Action::BookingRefunded,
        "booking.partially_refunded" => Action::BookingPartiallyRefunded,
        _ => return None,
    })
}

/// The audit entry of one booking event; `None` for events the log does not keep.
pub(super) fn entry_of(event: &OutboxEvent) -> Option<AuditRecord> {
    let action = action_of(&event.event_type)?;
    let p = &event.payload;
    let buyer = p["user_id"].as_str().map(str::to_owned);
    let (actor_type, actor_id) = match action {
        // The platform acts on the deadline and on the payment provider's word.
        Action::BookingExpired | Action::BookingPaymentFailed => (ActorType::System, None),
        _ => (ActorType::User, buyer.clone()),
    };
    Some(AuditRecord {
        seq: 0,
        id: event.id.clone(),
        at: event.created_at,
        actor_type,
        actor_id,
        organization_id: None,
        action: action.as_str().to_owned(),
        target_type: Some("booking".into()),
        target_id: Some(event.aggregate_id.clone()),
        ip: None,
        user_agent: None,
        request_id: None,
        detail: json!({
            "buyer_id": buyer,
            "show_id": p["show_id"],
            "zone_id": p["zone_id"],
            "quantity": p["quantity"],
            "outbox_seq": event.seq,
        }),
    })
}

#[async_trait]
impl OutboxHandler for BookingAuditProjection {
    /// One append for the whole batch; when it fails, the consumer appends the
    /// events one by one, so only an entry the store refuses is retried.
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        let records: Vec<AuditRecord> = events.iter().filter_map(entry_of).collect();
        self.store.append_audit(&records).await?;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::Timestamp;

    fn event(kind: &str) -> OutboxEvent {
        OutboxEvent {
            seq: 7,
            id: "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77".into(),
            event_type: kind.into(),
            aggregate_id: "0190d0f4-0000-7aa6-8f2e-5c2d3b1a9e77".into(),
            payload: json!({"user_id": "u1", "show_id": "s1", "zone_id": "z1", "quantity": 2}),
            created_at: Timestamp::from_millis(5),
            trace_context: None,
        }
    }

    #[test]
    fn booking_events_become_entries_keyed_by_the_event() {
        let held = entry_of(&event(EVENT_RESERVED)).unwrap();
        assert_eq!(held.action, "booking.held");
        assert_eq!(held.id, "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77");
        assert_eq!(held.actor_id.as_deref(), Some("u1"));
        assert_eq!(held.target_type.as_deref(), Some("booking"));
        assert_eq!(held.detail["quantity"], 2);
        let expired = entry_of(&event("booking.expired")).unwrap();
        assert_eq!(expired.actor_type, ActorType::System);
        assert_eq!(expired.actor_id, None);
        assert!(entry_of(&event("payment.captured")).is_none());
    }
}

//! The fan-out: an outbox handler that turns each event into one delivery per enabled
//! endpoint of the organization owning the event's show that subscribed to its type.
//!
//! Deliveries are unique per (endpoint, event id), so a batch replayed after a crash
//! adds nothing; an endpoint only receives events that happened after it was
//! registered, so a first run over an old outbox does not flood it with history.
use crate::catalog::ShowCache;
use crate::clock::DynClock;
use crate::outbox::{EventFailure, OutboxHandler};
use crate::store::{
    DeliveryRecord, DeliveryStatus, DynStore, OutboxEvent, StoreError, WebhookRecord,
};
use async_trait::async_trait;
use boxoffice_domain::ids::DeliveryId;
use boxoffice_domain::webhook::EVENT_TYPES;
use boxoffice_domain::{OrganizationId, ShowId};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct WebhookFanOut {
    store: DynStore,
    shows: Arc<ShowCache>,
    clock: DynClock,
    wake: Arc<Notify>,
}

impl WebhookFanOut {
    pub fn new(store: DynStore, shows: Arc<ShowCache>, clock: DynClock, wake: Arc<Notify>) -> Self {
        Self {
            store,
            shows,
            clock,
            wake,
        }
    }

    /// The organization owning the show an event is about; `None` when the event
    /// names no show or the show is gone.
    async fn organization_of(&self, event: &OutboxEvent) -> anyhow::Result<Option<OrganizationId>> {
        let Some(show) = event.payload["show_id"]
            .as_str()
            .and_then(|s| s.parse::<ShowId>().ok())
        else {
            return Ok(None);
        };
        if let Some(meta) = self.shows.get(show) {
            return Ok(Some(meta.organization_id));
        }
        match self.store.show_bundle(show).await {
            Ok(bundle) => Ok(Some(bundle.organization_id)),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait]
impl OutboxHandler for WebhookFanOut {
    /// One insert for the whole batch; when it fails, the consumer hands the events
    /// over one by one, so only an event that cannot be fanned out is retried.
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        let forwarded: Vec<&OutboxEvent> = events
            .iter()
            .filter(|e| EVENT_TYPES.contains(&e.event_type.as_str()))
            .collect();
        if forwarded.is_empty() {
            return Ok(Vec::new());
        }
        let mut endpoints: HashMap<OrganizationId, Vec<WebhookRecord>> = HashMap::new();
        for w in self.store.enabled_webhooks().await? {
            endpoints.entry(w.organization_id).or_default().push(w);
        }
        if endpoints.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let mut deliveries = Vec::new();
        for event in forwarded {
            let Some(org) = self.organization_of(event).await? else {
                continue;
            };
            for w in endpoints.get(&org).into_iter().flatten() {
                if !w.subscribes_to(&event.event_type) || event.created_at < w.created_at {
                    continue;
                }
                deliveries.push(DeliveryRecord {
                    id: DeliveryId::new(),
                    endpoint_id: w.id,
                    event_id: event.id.clone(),
                    event_type: event.event_type.clone(),
                    payload: event.payload.clone(),
                    event_created_at: event.created_at,
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_attempt_at: Some(now),
                    first_attempt_at: None,
                    last_attempt_at: None,
                    last_status: None,
                    last_error: None,
                    delivered_at: None,
                    created_at: now,
                });
            }
        }
        let inserted = self.store.insert_deliveries(&deliveries).await?;
        if inserted > 0 {
            tracing::debug!(deliveries = inserted, "webhook deliveries queued");
            self.wake.notify_one();
        }
        Ok(Vec::new())
    }
}

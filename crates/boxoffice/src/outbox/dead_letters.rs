//! Dead letters: outbox events a consumer gave up on after its last attempt, kept
//! for admins to inspect, replay through the consumer's own handler, or discard.
//! Both the API (admins) and `boxoffice admin dead-letters` (operators at the
//! database) go through this service, so the rules are the same either way.
use super::consumer::{truncate, ERROR_MAX_CHARS};
use super::registry::Consumers;
use crate::accounts::Principal;
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::http::paging::{self, Paged};
use crate::store::{DeadLetterFilter, DeadLetterRecord, DeadLetterStatus, DynStore};
use crate::timefmt::rfc3339;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// Who acts on dead letters.
#[derive(Clone, Copy, Debug)]
pub enum Operator {
    /// An API caller: only admins pass.
    Caller(Principal),
    /// Someone with shell access to the database (`boxoffice admin`).
    Console,
}

impl Operator {
    fn require(self) -> Result<()> {
        match self {
            Operator::Caller(who) if !who.is_admin() => {
                Err(Error::Forbidden("only admins manage dead letters"))
            }
            _ => Ok(()),
        }
    }
}

/// The event a letter holds, as the outbox recorded it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeadEventView {
    /// Position in the outbox.
    #[schema(example = 1042)]
    pub seq: i64,
    #[schema(format = Uuid, example = "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77")]
    pub id: String,
    #[schema(example = "booking.confirmed")]
    pub event_type: String,
    /// The record the event is about (a booking's id …).
    pub aggregate_id: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    #[schema(format = Uuid, example = "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77")]
    pub id: String,
    /// The consumer that gave up (`notifications`, `audit` …).
    #[schema(example = "notifications")]
    pub consumer: String,
    pub event: DeadEventView,
    /// Why the last attempt failed (truncated).
    #[schema(example = "SMTP peer refused the message")]
    pub last_error: String,
    #[schema(minimum = 1, example = 5)]
    pub attempts: u32,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub first_failed_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub last_failed_at: String,
    #[schema(schema_with = crate::http::contract::dead_letter_status)]
    pub status: String,
    /// When it was replayed or discarded.
    #[schema(schema_with = crate::http::contract::date_time_or_null)]
    pub resolved_at: Option<String>,
}

impl From<&DeadLetterRecord> for DeadLetterView {
    fn from(l: &DeadLetterRecord) -> Self {
        Self {
            id: l.id.clone(),
            consumer: l.consumer.clone(),
            event: DeadEventView {
                seq: l.event.seq,
                id: l.event.id.clone(),
                event_type: l.event.event_type.clone(),
                aggregate_id: l.event.aggregate_id.clone(),
                payload: l.event.payload.clone(),
                created_at: rfc3339(l.event.created_at),
            },
            last_error: l.last_error.clone(),
            attempts: l.attempts,
            first_failed_at: rfc3339(l.first_failed_at),
            last_failed_at: rfc3339(l.last_failed_at),
            status: l.status.as_str().to_owned(),
            resolved_at: l.resolved_at.map(rfc3339),
        }
    }
}

/// Filters of a listing, as received.
#[derive(Clone, Debug, Default)]
pub struct DeadLetterQuery {
    pub consumer: Option<String>,
    pub status: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// Longest consumer name a filter may carry.
pub const CONSUMER_MAX_CHARS: usize = 100;

pub struct DeadLetterService {
    store: DynStore,
    consumers: Arc<Consumers>,
    clock: DynClock,
}

impl DeadLetterService {
    pub fn new(store: DynStore, consumers: Arc<Consumers>, clock: DynClock) -> Self {
        Self {
            store,
            consumers,
            clock,
        }
    }

    pub async fn list(&self, who: Operator, q: DeadLetterQuery) -> Result<Paged<DeadLetterView>> {
        who.require()?;
        let page = paging::page(q.page, q.per_page)?;
        let status = match q.status.as_deref() {
            None => None,
            Some(s) => Some(DeadLetterStatus::parse(s).ok_or_else(|| {
                Error::field("status", "must be one of open, replayed, discarded")
            })?),
        };
        if let Some(c) = &q.consumer {
            if c.is_empty() || c.chars().count() > CONSUMER_MAX_CHARS {
                return Err(Error::field(
                    "consumer",
                    format!("must be 1 to {CONSUMER_MAX_CHARS} characters"),
                ));
            }
        }
        let filter = DeadLetterFilter {
            consumer: q.consumer,
            status,
        };
        let (items, total) = self.store.dead_letters(&filter, page).await?;
        Ok(Paged::new(
            items.iter().map(DeadLetterView::from).collect(),
            page,
            total,
        ))
    }

    pub async fn get(&self, who: Operator, id: &str) -> Result<DeadLetterView> {
        who.require()?;
        Ok(DeadLetterView::from(&self.open_or_any(id).await?))
    }

    /// Runs the consumer's handler on the letter's event now: success marks it
    /// replayed; failure keeps it open with the new error and one more attempt.
    pub async fn replay(&self, who: Operator, id: &str) -> Result<DeadLetterView> {
        who.require()?;
        let mut letter = self.open(id).await?;
        let consumer = self.consumers.get(&letter.consumer).ok_or_else(|| {
            Error::conflict(
                ConflictKind::InvalidState,
                format!(
                    "no consumer named {} runs in this process; discard the letter instead",
                    letter.consumer
                ),
            )
        })?;
        let now = self.clock.now();
        letter.attempts += 1;
        match consumer.replay(&letter.event).await {
            Ok(()) => {
                letter.status = DeadLetterStatus::Replayed;
                letter.resolved_at = Some(now);
                tracing::info!(letter = %letter.id, consumer = %letter.consumer, event = %letter.event.id, "dead letter replayed");
            }
            Err(e) => {
                letter.last_failed_at = now;
                letter.last_error = truncate(&format!("{e:#}"), ERROR_MAX_CHARS);
                tracing::warn!(letter = %letter.id, consumer = %letter.consumer, error = %letter.last_error, "dead letter replay failed; it stays open");
            }
        }
        self.save(&letter).await?;
        Ok(DeadLetterView::from(&letter))
    }

    /// Gives up on an open letter for good.
    pub async fn discard(&self, who: Operator, id: &str) -> Result<DeadLetterView> {
        who.require()?;
        let mut letter = self.open(id).await?;
        letter.status = DeadLetterStatus::Discarded;
        letter.resolved_at = Some(self.clock.now());
        self.save(&letter).await?;
        tracing::info!(letter = %letter.id, consumer = %letter.consumer, "dead letter discarded");
        Ok(DeadLetterView::from(&letter))
    }

    async fn open_or_any(&self, id: &str) -> Result<DeadLetterRecord> {
        self.store.dead_letter(id).await.or_not_found("dead letter")
    }

    async fn open(&self, id: &str) -> Result<DeadLetterRecord> {
        let letter = self.open_or_any(id).await?;
        if letter.status != DeadLetterStatus::Open {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                format!("this dead letter is already {}", letter.status.as_str()),
            ));
        }
        Ok(letter)
    }

    async fn save(&self, letter: &DeadLetterRecord) -> Result<()> {
        if !self.store.update_open_letter(letter).await? {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                "this dead letter was resolved meanwhile",
            ));
        }
        Ok(())
    }
}

//! From booking events to tickets: a confirmed booking gets its tickets (and its buyer
//! an email with them as a PDF), a cancelled or refunded one has them revoked. Reads
//! the outbox like every consumer, so a replayed event changes nothing twice.
use super::render::TicketPage;
use super::service::TicketService;
use crate::mail::{Attachment, MailService};
use crate::outbox::{EventFailure, OutboxHandler};
use crate::store::{BookingRecord, OutboxEvent, StoreError, TicketRecord};
use async_trait::async_trait;
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::ticket::RevokeReason;
use boxoffice_domain::BookingId;
use std::collections::HashMap;
use std::sync::Arc;

/// The consumer's name in `consumer_offsets`.
pub const OUTBOX_CONSUMER: &str = "tickets";

pub struct TicketProjection {
    tickets: Arc<TicketService>,
    mail: Arc<MailService>,
}

impl TicketProjection {
    pub fn new(tickets: Arc<TicketService>, mail: Arc<MailService>) -> Self {
        Self { tickets, mail }
    }

    /// Acts on `event`: revokes at once; a confirmed booking is returned, its
    /// tickets issued with the rest of the batch.
    async fn on(&self, event: &OutboxEvent) -> anyhow::Result<Option<BookingRecord>> {
        let revoke = match event.event_type.as_str() {
            "booking.confirmed" => None,
            "booking.cancelled" => Some(RevokeReason::Cancelled),
            "booking.refunded" | "booking.partially_refunded" => Some(RevokeReason::Refunded),
            _ => return Ok(None),
        };
        let id: BookingId = event
            .aggregate_id
            .parse()
            .map_err(|_| anyhow::anyhow!("a booking event without a booking id"))?;
        if let Some(reason) = revoke {
            self.tickets.revoke_for(id, reason).await?;
            return Ok(None);
        }
        let booking = match self.tickets.store().booking(id).await {
            Ok(b) => b,
            Err(StoreError::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // Refunded or cancelled meanwhile: its own event revokes, nothing to issue.
        Ok((booking.status == BookingStatus::Confirmed).then_some(booking))
    }

    /// Sends newly issued tickets to their holder, the PDF attached.
    async fn email(&self, tickets: &[TicketRecord]) -> anyhow::Result<()> {
        let first = &tickets[0];
        let holder = self.tickets.store().user(first.holder_id).await?;
        if crate::accounts::privacy::is_erased_email(holder.email.as_str()) {
            return Ok(());
        }
        let pages = self.tickets.pages(first.show_id, tickets).await?;
        let pdf = super::render::pdf(&pages)?;
        let context = serde_json::json!({
            "display_name": holder.display_name,
            "event_name": pages[0].event,
            "venue": pages[0].venue,
            "starts_at": pages[0].starts_at,
            "tickets": pages.iter().map(|p: &TicketPage| serde_json::json!({
                "zone": p.zone, "seat": p.seat, "holder": p.holder, "code": p.code,
            })).collect::<Vec<_>>(),
        });
        let attachment = Attachment {
            filename: format!("tickets-{}.pdf", first.booking_id),
            content_type: "application/pdf".into(),
            body: pdf,
        };
        self.mail
            .send_with_attachments(&holder.email, "tickets_issued", context, vec![attachment])
    }
}

#[async_trait]
impl OutboxHandler for TicketProjection {
    /// The tickets of every booking the batch confirmed are issued in one write (one
    /// transaction per batch rather than per booking, beside the group commit); then
    /// each buyer gets their email.
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        let mut failures = Vec::new();
        let mut confirmed = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match self.on(event).await {
                Ok(Some(booking)) => confirmed.push((index, booking)),
                Ok(None) => {}
                Err(error) => failures.push(EventFailure { index, error }),
            }
        }
        let bookings: Vec<BookingRecord> = confirmed.iter().map(|(_, b)| b.clone()).collect();
        let mut issued: HashMap<BookingId, Vec<TicketRecord>> = HashMap::new();
        for t in self.tickets.issue(&bookings).await? {
            issued.entry(t.booking_id).or_default().push(t);
        }
        for (index, booking) in confirmed {
            let Some(tickets) = issued.remove(&booking.id) else {
                continue;
            };
            if let Err(e) = self.email(&tickets).await {
                failures.push(EventFailure {
                    index,
                    error: e.context("emailing the tickets"),
                });
            }
        }
        Ok(failures)
    }
}

//! From outbox event to notification: the order summary is assembled from the
//! booking (or refund) in the event and the catalog, the inbox entry is stored once
//! per event and user, then the email goes out unless the user's hourly limit is
//! spent, in which case the entry records that the email was skipped.
//!
//! The entry is stored before the email and marked `sent` after it was handed to the
//! mailer: a crash in between leaves it `pending`, and the replayed event sends it
//! then (at least once). Events for an erased account notify nobody.
use crate::accounts::privacy::is_erased_email;
use crate::clock::DynClock;
use crate::mail::MailService;
use crate::outbox::{EventFailure, OutboxHandler};
use crate::store::{
    DynStore, EmailStatus, EventRecord, NotificationRecord, OutboxEvent, ShowBundle, UserRecord,
};
use crate::timefmt::rfc3339;
use anyhow::Context;
use async_trait::async_trait;
use boxoffice_domain::{BookingId, Money, ShowId, Timestamp, UserId, ZoneId};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;

/// What the emails of the last hour are counted over.
const LIMIT_WINDOW_MS: i64 = 3_600_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Confirmed,
    HoldExpired,
    PaymentFailed,
    Refunded,
}

impl Kind {
    fn of(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "booking.confirmed" => Kind::Confirmed,
            "booking.expired" => Kind::HoldExpired,
            "booking.payment_failed" => Kind::PaymentFailed,
            "refund.succeeded" => Kind::Refunded,
            _ => return None,
        })
    }

    fn template(self) -> &'static str {
        match self {
            Kind::Confirmed => "booking_confirmed",
            Kind::HoldExpired => "hold_expired",
            Kind::PaymentFailed => "payment_failed",
            Kind::Refunded => "refund_processed",
        }
    }
}

/// A booking as booking events carry it.
#[derive(Deserialize)]
struct BookingPayload {
    id: BookingId,
    user_id: UserId,
    show_id: ShowId,
    zone_id: ZoneId,
    quantity: u32,
    unit_price: Money,
    /// The sum over the booking's items (events written before orders of several
    /// items carry no total: one zone, `quantity` × `unit_price`).
    #[serde(default)]
    total: Option<Money>,
    expires_at: Option<Timestamp>,
}

/// A refund as refund events carry it.
#[derive(Deserialize)]
struct RefundPayload {
    booking_id: BookingId,
    user_id: UserId,
    amount_minor: i64,
    currency: String,
}

/// The order summary of a notification: its detail, and the email's context.
#[derive(Clone, Debug, Serialize)]
struct Summary {
    booking_id: String,
    event_name: String,
    venue: String,
    show_starts_at: String,
    zone: String,
    quantity: u32,
    unit_price: String,
    total: String,
    /// Until when a hold whose payment failed stays (payment failures).
    hold_until: Option<String>,
    /// The amount refunded (refunds).
    refunded: Option<String>,
}

pub struct NotificationProjection {
    store: DynStore,
    mail: Arc<MailService>,
    clock: DynClock,
    /// Emails per user per hour; 0: no limit.
    emails_per_hour: u32,
}

impl NotificationProjection {
    pub fn new(
        store: DynStore,
        mail: Arc<MailService>,
        clock: DynClock,
        emails_per_hour: u32,
    ) -> Self {
        Self {
            store,
            mail,
            clock,
            emails_per_hour,
        }
    }

    /// The show and its event, read once per batch.
    async fn show<'a>(
        &self,
        shows: &'a mut Shows,
        id: ShowId,
    ) -> anyhow::Result<&'a (ShowBundle, EventRecord)> {
        if let Entry::Vacant(slot) = shows.entry(id) {
            let bundle = self
                .store
                .show_bundle(id)
                .await
                .context("reading the show")?;
            let event = self
                .store
                .event(bundle.show.event_id)
                .await
                .context("reading the event")?;
            slot.insert((bundle, event));
        }
        Ok(&shows[&id])
    }

    async fn summary(
        &self,
        shows: &mut Shows,
        booking: &BookingPayload,
        refunded: Option<String>,
    ) -> anyhow::Result<Summary> {
        let (bundle, event) = self.show(shows, booking.show_id).await?;
        let zone = bundle
            .zones
            .iter()
            .find(|z| z.id == booking.zone_id)
            .map_or_else(|| "(zone removed)".to_owned(), |z| z.details.name.clone());
        let total = match booking.total {
            Some(total) => total,
            None => booking
                .unit_price
                .times(booking.quantity)
                .context("the total overflows")?,
        };
        Ok(Summary {
            booking_id: booking.id.to_string(),
            event_name: event.details.title.clone(),
            venue: bundle.show.details.venue.clone(),
            show_starts_at: rfc3339(bundle.show.details.starts_at),
            zone,
            quantity: booking.quantity,
            unit_price: format_money(
                booking.unit_price.amount_minor,
                booking.unit_price.currency.as_str(),
            ),
            total: format_money(total.amount_minor, total.currency.as_str()),
            hold_until: None,
            refunded,
        })
    }

    /// The buyer and the order summary of `event`.
    async fn read(
        &self,
        shows: &mut Shows,
        kind: Kind,
        event: &OutboxEvent,
    ) -> anyhow::Result<(UserId, Summary)> {
        let payload = event.payload.clone();
        match kind {
            Kind::Refunded => {
                let refund: RefundPayload =
                    serde_json::from_value(payload).context("a refund event without its refund")?;
                let b = self
                    .store
                    .booking(refund.booking_id)
                    .await
                    .context("reading the refunded booking")?;
                let booking = BookingPayload {
                    id: b.id,
                    user_id: refund.user_id,
                    show_id: b.show_id,
                    zone_id: b.zone_id,
                    quantity: b.quantity,
                    unit_price: b.unit_price,
                    total: Some(b.total),
                    expires_at: None,
                };
                let refunded = format_money(refund.amount_minor, &refund.currency);
                Ok((
                    refund.user_id,
                    self.summary(shows, &booking, Some(refunded)).await?,
                ))
            }
            _ => {
                let booking: BookingPayload = serde_json::from_value(payload)
                    .context("a booking event without its booking")?;
                let mut summary = self.summary(shows, &booking, None).await?;
                if kind == Kind::PaymentFailed {
                    summary.hold_until = booking.expires_at.map(rfc3339);
                }
                Ok((booking.user_id, summary))
            }
        }
    }

    /// The inbox entry `event` makes, with what its email needs; `None` when the
    /// event notifies nobody.
    async fn prepare(
        &self,
        shows: &mut Shows,
        event: &OutboxEvent,
    ) -> anyhow::Result<Option<Prepared>> {
        let Some(kind) = Kind::of(&event.event_type) else {
            return Ok(None);
        };
        let (user_id, summary) = self.read(shows, kind, event).await?;
        let user = self
            .store
            .user(user_id)
            .await
            .context("reading the buyer")?;
        if is_erased_email(user.email.as_str()) {
            tracing::debug!(event = %event.id, "no notification for an erased account");
            return Ok(None);
        }
        let (title, body) = texts(kind, &summary);
        let record = NotificationRecord {
            id: uuid::Uuid::now_v7().to_string(),
            user_id,
            event_id: event.id.clone(),
            kind: event.event_type.clone(),
            title,
            body,
            detail: serde_json::to_value(&summary)?,
            email_status: EmailStatus::Pending,
            emailed_at: None,
            created_at: self.clock.now(),
            read_at: None,
        };
        Ok(Some(Prepared {
            record,
            kind,
            user,
            summary,
        }))
    }

    /// Whether `user` may get one more email now, counting those this batch sends.
    async fn within_limit(
        &self,
        sent: &mut HashMap<UserId, i64>,
        user: UserId,
        now: Timestamp,
    ) -> anyhow::Result<bool> {
        if self.emails_per_hour == 0 {
            return Ok(true);
        }
        let count = match sent.entry(user) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(
                self.store
                    .emails_sent_since(user, now.plus_millis(-LIMIT_WINDOW_MS))
                    .await?,
            ),
        };
        if *count >= i64::from(self.emails_per_hour) {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }
}

/// Shows (and their events) read while handling one batch.
type Shows = HashMap<ShowId, (ShowBundle, EventRecord)>;

/// An inbox entry about to be stored, and its email.
struct Prepared {
    record: NotificationRecord,
    kind: Kind,
    user: UserRecord,
    summary: Summary,
}

/// Title and text of the inbox entry.
fn texts(kind: Kind, s: &Summary) -> (String, String) {
    let what = format!(
        "{} × {} for {} at {} on {}",
        s.quantity, s.zone, s.event_name, s.venue, s.show_starts_at
    );
    match kind {
        Kind::Confirmed => (
            format!("Booking confirmed: {}", s.event_name),
            format!("{what}. Total {} (booking {}).", s.total, s.booking_id),
        ),
        Kind::HoldExpired => (
            format!("Hold expired: {}", s.event_name),
            format!(
                "Your hold on {what} expired before it was paid; the tickets are back on sale."
            ),
        ),
        Kind::PaymentFailed => (
            format!("Payment failed: {}", s.event_name),
            format!(
                "The payment of {} for {what} did not go through.{}",
                s.total,
                s.hold_until
                    .as_ref()
                    .map(|t| format!(" Your hold stays until {t}: try again before then."))
                    .unwrap_or_default()
            ),
        ),
        Kind::Refunded => (
            format!("Refund processed: {}", s.event_name),
            format!(
                "{} was refunded for booking {} ({what}).",
                s.refunded.as_deref().unwrap_or(&s.total),
                s.booking_id
            ),
        ),
    }
}

/// Currencies without a minor unit (ISO 4217 exponent 0).
const ZERO_DECIMALS: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// `2500, "EUR"` as `25.00 EUR`.
pub fn format_money(amount_minor: i64, currency: &str) -> String {
    if ZERO_DECIMALS.contains(&currency) {
        return format!("{amount_minor} {currency}");
    }
    let sign = if amount_minor < 0 { "-" } else { "" };
    let abs = amount_minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

#[async_trait]
impl OutboxHandler for NotificationProjection {
    /// A batch is two writes however many events it holds: its inbox entries in one,
    /// then the state of their emails in another.
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>> {
        let mut failures = Vec::new();
        let mut shows = Shows::new();
        let mut prepared = Vec::new();
        for (index, event) in events.iter().enumerate() {
            match self.prepare(&mut shows, event).await {
                Ok(Some(p)) => prepared.push((index, p)),
                Ok(None) => {}
                Err(error) => failures.push(EventFailure { index, error }),
            }
        }
        if prepared.is_empty() {
            return Ok(failures);
        }
        let records: Vec<_> = prepared.iter().map(|(_, p)| p.record.clone()).collect();
        let stored: HashMap<_, _> = self
            .store
            .put_notifications(&records)
            .await
            .context("storing the notifications")?
            .into_iter()
            .map(|n| ((n.event_id.clone(), n.user_id), n))
            .collect();
        let now = self.clock.now();
        let mut sent_per_user = HashMap::new();
        let (mut sent, mut limited) = (Vec::new(), Vec::new());
        for (index, p) in prepared {
            let key = (p.record.event_id.clone(), p.record.user_id);
            let Some(entry) = stored.get(&key) else {
                let error = anyhow::anyhow!("the notification was not stored");
                failures.push(EventFailure { index, error });
                continue;
            };
            if entry.email_status != EmailStatus::Pending {
                continue; // a replay of an event whose email already went (or never will)
            }
            if !self
                .within_limit(&mut sent_per_user, entry.user_id, now)
                .await?
            {
                tracing::info!(notification = %entry.id, kind = %entry.kind, limit = self.emails_per_hour, "email skipped: the user's hourly limit is spent");
                limited.push(entry.id.clone());
                continue;
            }
            let context = serde_json::json!({
                "display_name": p.user.display_name,
                "summary": p.summary,
            });
            match self
                .mail
                .send_template(&p.user.email, p.kind.template(), context)
            {
                Ok(()) => sent.push(entry.id.clone()),
                Err(e) => failures.push(EventFailure {
                    index,
                    error: e.context("rendering the email"),
                }),
            }
        }
        self.store
            .set_email_statuses(&sent, EmailStatus::Sent, Some(now))
            .await?;
        self.store
            .set_email_statuses(&limited, EmailStatus::RateLimited, None)
            .await?;
        Ok(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_in_major_units() {
        assert_eq!(format_money(2500, "EUR"), "25.00 EUR");
        assert_eq!(format_money(5, "USD"), "0.05 USD");
        assert_eq!(format_money(-1999, "EUR"), "-19.99 EUR");
        assert_eq!(format_money(1500, "JPY"), "1500 JPY");
    }

    #[test]
    fn the_events_told_to_buyers_and_their_templates() {
        assert_eq!(Kind::of("booking.confirmed"), Some(Kind::Confirmed));
        assert_eq!(Kind::of("booking.expired"), Some(Kind::HoldExpired));
        assert_eq!(
            Kind::of("booking.payment_failed"),
            Some(Kind::PaymentFailed)
        );
        assert_eq!(Kind::of("refund.succeeded"), Some(Kind::Refunded));
        assert_eq!(Kind::of("booking.reserved"), None);
        assert_eq!(Kind::of("payment.succeeded"), None);
        let templates: Vec<_> = crate::mail::Templates::names().collect();
        for k in [
            Kind::Confirmed,
            Kind::HoldExpired,
            Kind::PaymentFailed,
            Kind::Refunded,
        ] {
            assert!(templates.contains(&k.template()), "{}", k.template());
        }
    }
}

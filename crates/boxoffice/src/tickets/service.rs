//! E-tickets: issued once per admission when a booking is confirmed, revoked when it
//! is cancelled or refunded, transferred between accounts, and shown as a signed QR
//! code, an SVG and a PDF. Who may see or move a ticket is decided here.
use super::codes;
use super::views::{TicketClaims, TicketPolicy, TicketView, TransferRequest, QR_TYP};
use crate::accounts::Principal;
use crate::audit::{Action, AuditEntry, AuditLog, Target};
use crate::catalog::ShowCache;
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::organizations::Access;
use crate::signing::{Keyring, Purpose};
use crate::store::{BookingRecord, DynStore, Page, StoreError, TicketRecord};
use boxoffice_domain::account::Email;
use boxoffice_domain::organization::Permission;
use boxoffice_domain::ticket::{RevokeReason, TicketStatus};
use boxoffice_domain::{BookingId, ShowId, UserId, ZoneId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One admission a confirmed booking entitles to: a zone, and a seat when seated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    pub zone_id: ZoneId,
    pub seat_id: Option<String>,
    pub seat_label: Option<String>,
}

/// The admissions of a booking, in a stable order (the slot numbers of its tickets):
/// one per seat, `quantity` per general-admission line; a booking without stored
/// lines is its one general-admission zone.
pub async fn admissions_of(store: &DynStore, booking: &BookingRecord) -> Result<Vec<Admission>> {
    let items = store.booking_items(booking.id).await?;
    if items.is_empty() {
        return Ok((0..booking.quantity)
            .map(|_| Admission {
                zone_id: booking.zone_id,
                seat_id: None,
                seat_label: None,
            })
            .collect());
    }
    Ok(items
        .iter()
        .flat_map(|line| {
            let admission = Admission {
                zone_id: line.item.zone_id,
                seat_id: line.item.seat_id.map(|s| s.to_string()),
                seat_label: line.seat.as_ref().map(|s| s.label.clone()),
            };
            std::iter::repeat_n(admission, line.item.quantity as usize)
        })
        .collect())
}

pub struct TicketService {
    store: DynStore,
    keyring: Arc<Keyring>,
    access: Arc<Access>,
    cache: Arc<ShowCache>,
    clock: DynClock,
    audit: AuditLog,
}

impl TicketService {
    pub fn new(
        store: DynStore,
        keyring: Arc<Keyring>,
        access: Arc<Access>,
        cache: Arc<ShowCache>,
        clock: DynClock,
        audit: AuditLog,
    ) -> Self {
        Self {
            store,
            keyring,
            access,
            cache,
            clock,
            audit,
        }
    }

    pub(super) fn store(&self) -> &DynStore {
        &self.store
    }

    pub(super) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub(super) fn clock(&self) -> &DynClock {
        &self.clock
    }

    pub(super) fn cache(&self) -> &ShowCache {
        &self.cache
    }

    pub(super) fn access(&self) -> &Access {
        &self.access
    }

    pub(super) fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The QR payload of a ticket that still opens the door.
    pub fn qr(&self, t: &TicketRecord) -> Option<String> {
        if t.status != TicketStatus::Valid {
            return None;
        }
        let claims = TicketClaims {
            tid: t.id.clone(),
            show: t.show_id,
            zone: t.zone_id,
            seat: t.seat_label.clone(),
            holder: t.holder_name.clone(),
            iat: t.issued_at.millis() / 1000,
        };
        let payload = serde_json::to_vec(&claims).expect("claims serialize");
        Some(self.keyring.sign_jws(Purpose::TICKET, QR_TYP, &payload))
    }

    pub fn view(&self, t: &TicketRecord) -> TicketView {
        TicketView::new(t, self.qr(t))
    }

    /// Issues the tickets of confirmed `bookings` in one write; those issued by this
    /// call (none for a booking whose tickets exist already: each ticket has its
    /// issue key).
    pub async fn issue(&self, bookings: &[BookingRecord]) -> Result<Vec<TicketRecord>> {
        let now = self.clock.now();
        let mut holders: HashMap<UserId, String> = HashMap::new();
        let mut tickets = Vec::new();
        let mut seen = HashSet::new();
        for booking in bookings.iter().filter(|b| seen.insert(b.id)) {
            let holder = match holders.get(&booking.user_id) {
                Some(name) => name.clone(),
                None => {
                    let name = self.store.user(booking.user_id).await?.display_name;
                    holders.insert(booking.user_id, name.clone());
                    name
                }
            };
            let admissions = admissions_of(&self.store, booking).await?;
            tickets.extend(
                admissions
                    .into_iter()
                    .enumerate()
                    .map(|(n, a)| TicketRecord {
                        id: uuid::Uuid::now_v7().to_string(),
                        issue_key: format!("{}:{n}", booking.id),
                        code: codes::new_code(),
                        booking_id: booking.id,
                        show_id: booking.show_id,
                        zone_id: a.zone_id,
                        seat_id: a.seat_id,
                        seat_label: a.seat_label,
                        holder_id: booking.user_id,
                        holder_name: holder.clone(),
                        status: TicketStatus::Valid,
                        revoke_reason: None,
                        replaced_by: None,
                        issued_at: now,
                        revoked_at: None,
                    }),
            );
        }
        let issued: HashSet<String> = self
            .store
            .issue_tickets(&tickets)
            .await?
            .into_iter()
            .collect();
        Ok(tickets
            .into_iter()
            .filter(|t| issued.contains(&t.id))
            .collect())
    }

    /// Revokes every valid ticket of a booking; how many.
    pub async fn revoke_for(&self, booking: BookingId, reason: RevokeReason) -> Result<usize> {
        let revoked = self
            .store
            .revoke_booking_tickets(booking, reason, self.clock.now())
            .await?;
        if !revoked.is_empty() {
            tracing::info!(%booking, count = revoked.len(), reason = reason.as_str(), "tickets revoked");
        }
        Ok(revoked.len())
    }

    /// Whether `who` may see what `owner` holds for `show`: the owner, an admin, or
    /// the show's organization (sales view).
    async fn may_see(
        &self,
        who: &Principal,
        owner: boxoffice_domain::UserId,
        show: ShowId,
        what: &'static str,
    ) -> Result<()> {
        if who.key.is_none() && who.acts_for(owner) {
            return Ok(());
        }
        let show = self.cache.get(show).ok_or(Error::NotFound(what))?;
        self.access
            .require(who, show.organization_id, Permission::ViewSales)
            .await
    }

    /// A ticket its holder (or an admin, or the show's organizer) may see.
    async fn visible(&self, who: &Principal, id: &str) -> Result<TicketRecord> {
        let ticket = self.store.ticket(id).await.or_not_found("ticket")?;
        self.may_see(who, ticket.holder_id, ticket.show_id, "ticket")
            .await?;
        Ok(ticket)
    }

    pub async fn get(&self, who: Principal, id: &str) -> Result<TicketView> {
        Ok(self.view(&self.visible(&who, id).await?))
    }

    /// The QR code of a valid ticket as an SVG image.
    pub async fn qr_svg(&self, who: Principal, id: &str) -> Result<String> {
        let ticket = self.visible(&who, id).await?;
        let payload = self.qr(&ticket).ok_or_else(|| {
            Error::conflict(
                ConflictKind::InvalidState,
                "this ticket was revoked: its code no longer opens the door",
            )
        })?;
        super::render::qr_svg(&payload)
    }

    /// The booking's tickets (its buyer's, an admin's or the show's organizer's view).
    pub async fn of_booking(&self, who: Principal, booking: BookingId) -> Result<Vec<TicketView>> {
        let record = self.booking_visible(&who, booking).await?;
        let tickets = self.store.tickets_of_booking(record.id).await?;
        Ok(tickets.iter().map(|t| self.view(t)).collect())
    }

    async fn booking_visible(&self, who: &Principal, id: BookingId) -> Result<BookingRecord> {
        let booking = self.store.booking(id).await.or_not_found("booking")?;
        self.may_see(who, booking.user_id, booking.show_id, "booking")
            .await?;
        Ok(booking)
    }

    /// The booking's valid tickets as one PDF, a page each.
    pub async fn pdf(&self, who: Principal, booking: BookingId) -> Result<Vec<u8>> {
        let record = self.booking_visible(&who, booking).await?;
        let tickets: Vec<_> = self
            .store
            .tickets_of_booking(record.id)
            .await?
            .into_iter()
            .filter(|t| t.status == TicketStatus::Valid)
            .collect();
        if tickets.is_empty() {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                "this booking has no valid tickets (not confirmed yet, or cancelled or refunded)",
            ));
        }
        self.render_pdf(record.show_id, &tickets).await
    }

    /// What the PDF pages of `tickets` (all of one show) show.
    pub(super) async fn pages(
        &self,
        show: ShowId,
        tickets: &[TicketRecord],
    ) -> Result<Vec<super::render::TicketPage>> {
        let bundle = self.store.show_bundle(show).await?;
        let event = self.store.event(bundle.show.event_id).await?;
        Ok(tickets
            .iter()
            .map(|t| super::render::TicketPage {
                event: event.details.title.clone(),
                venue: bundle.show.details.venue.clone(),
                starts_at: crate::timefmt::rfc3339(bundle.show.details.starts_at),
                zone: bundle
                    .zones
                    .iter()
                    .find(|z| z.id == t.zone_id)
                    .map_or_else(String::new, |z| z.details.name.clone()),
                seat: t.seat_label.clone(),
                holder: t.holder_name.clone(),
                code: codes::display(&t.code),
                qr: self.qr(t).unwrap_or_default(),
            })
            .collect())
    }

    /// The PDF of `tickets` (all of one show), a page each.
    pub(super) async fn render_pdf(
        &self,
        show: ShowId,
        tickets: &[TicketRecord],
    ) -> Result<Vec<u8>> {
        super::render::pdf(&self.pages(show, tickets).await?)
    }

    /// The caller's tickets, newest first.
    pub async fn mine(&self, who: Principal, page: Page) -> Result<(Vec<TicketView>, i64)> {
        let (tickets, total) = self.store.tickets_of_holder(who.user, page).await?;
        Ok((tickets.iter().map(|t| self.view(t)).collect(), total))
    }

    /// Every ticket `user` holds or held (their data export).
    pub async fn all_of(&self, user: boxoffice_domain::UserId) -> Result<Vec<TicketView>> {
        let tickets = self.store.all_tickets_of_holder(user).await?;
        Ok(tickets.iter().map(|t| self.view(t)).collect())
    }

    /// Gives a ticket to another account: the old code is revoked and a new ticket
    /// with a new code is issued to the recipient, in one write.
    pub async fn transfer(
        &self,
        who: Principal,
        id: &str,
        req: TransferRequest,
    ) -> Result<TicketView> {
        let email = Email::parse(&req.to_email).map_err(|m| Error::field("to_email", m))?;
        let ticket = self.store.ticket(id).await.or_not_found("ticket")?;
        if who.key.is_some() || !who.acts_for(ticket.holder_id) {
            return Err(Error::Forbidden("only the ticket's holder may transfer it"));
        }
        if !self.store.transfers_allowed(ticket.show_id).await? {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                "the organizer does not allow transfers for this show",
            ));
        }
        if ticket.status != TicketStatus::Valid {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                "a revoked ticket cannot be transferred",
            ));
        }
        let recipient = match self.store.user_by_email(&email).await {
            Ok(u) => u,
            Err(StoreError::NotFound) => {
                return Err(Error::field("to_email", "no account has this email"))
            }
            Err(e) => return Err(e.into()),
        };
        if recipient.id == ticket.holder_id {
            return Err(Error::field("to_email", "is the ticket's holder already"));
        }
        let now = self.clock.now();
        let new = TicketRecord {
            id: uuid::Uuid::now_v7().to_string(),
            issue_key: format!("{}:transfer", ticket.id),
            code: codes::new_code(),
            holder_id: recipient.id,
            holder_name: recipient.display_name.clone(),
            status: TicketStatus::Valid,
            revoke_reason: None,
            replaced_by: None,
            issued_at: now,
            revoked_at: None,
            ..ticket.clone()
        };
        if !self.store.transfer_ticket(&ticket.id, &new).await? {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                "this ticket was used at the door or revoked meanwhile",
            ));
        }
        let org = self.cache.get(ticket.show_id).map(|s| s.organization_id);
        let mut entry = AuditEntry::on(
            Action::TicketTransferred,
            who,
            Target::new("ticket", &ticket.id),
        )
        .detail(serde_json::json!({
            "new_ticket": new.id,
            "to_user": recipient.id.to_string(),
            "show": ticket.show_id.to_string(),
        }));
        if let Some(org) = org {
            entry = entry.organization(org);
        }
        self.audit.record(entry).await;
        Ok(self.view(&new))
    }

    pub async fn policy(&self, show: ShowId) -> Result<TicketPolicy> {
        self.cache.get(show).ok_or(Error::NotFound("show"))?;
        Ok(TicketPolicy {
            transfers_allowed: self.store.transfers_allowed(show).await?,
        })
    }

    pub async fn set_policy(
        &self,
        who: Principal,
        show: ShowId,
        policy: TicketPolicy,
    ) -> Result<TicketPolicy> {
        let meta = self.cache.get(show).ok_or(Error::NotFound("show"))?;
        self.access
            .require(&who, meta.organization_id, Permission::ManageCatalog)
            .await?;
        self.store
            .set_transfers_allowed(show, policy.transfers_allowed, self.clock.now())
            .await?;
        self.audit
            .record(
                AuditEntry::on(Action::TicketPolicyChanged, who, Target::show(show))
                    .organization(meta.organization_id)
                    .detail(serde_json::json!({"transfers_allowed": policy.transfers_allowed})),
            )
            .await;
        Ok(policy)
    }
}

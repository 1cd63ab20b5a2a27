//! Storage port of e-tickets and the door: tickets issued once per admission slot,
//! revocations, transfers in one write, and scans whose admission is decided by a
//! unique index, so two gates scanning one ticket at the same moment admit it once.
use super::{Page, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::ticket::{RevokeReason, ScanResult, TicketStatus};
use boxoffice_domain::{BookingId, ShowId, Timestamp, UserId, ZoneId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketRecord {
    /// UUIDv7.
    pub id: String,
    /// The slot it fills (`<booking>:<n>`, `<old ticket>:transfer`): issued once.
    pub issue_key: String,
    /// 128 random bits, base32: the code to type when the QR code cannot be read.
    pub code: String,
    pub booking_id: BookingId,
    pub show_id: ShowId,
    pub zone_id: ZoneId,
    pub seat_id: Option<String>,
    pub seat_label: Option<String>,
    pub holder_id: UserId,
    pub holder_name: String,
    pub status: TicketStatus,
    pub revoke_reason: Option<RevokeReason>,
    pub replaced_by: Option<String>,
    pub issued_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// One scan as it is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckinRecord {
    pub id: String,
    pub ticket_id: String,
    pub show_id: ShowId,
    pub list_id: Option<String>,
    pub gate: String,
    pub scanned_at: Timestamp,
    pub recorded_at: Timestamp,
    /// Uploaded by a gate that scanned without the network.
    pub offline: bool,
    /// The ticket's admission on record.
    pub admitted: bool,
    pub result: ScanResult,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckinListRecord {
    pub id: String,
    pub show_id: ShowId,
    pub name: String,
    /// Empty: every zone.
    pub zone_ids: Vec<ZoneId>,
    pub created_at: Timestamp,
}

impl CheckinListRecord {
    pub fn covers(&self, zone: ZoneId) -> bool {
        self.zone_ids.is_empty() || self.zone_ids.contains(&zone)
    }
}

/// Per zone: tickets that open the door, and how many came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneAttendance {
    pub zone_id: ZoneId,
    pub valid: i64,
    pub checked_in: i64,
}

/// What recording an admission came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// This scan is the admission on record.
    Admitted,
    /// Another scan admitted the ticket first: that one.
    Earlier(CheckinRecord),
}

#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Inserts the tickets whose `issue_key` is new, in one write; the ids of those
    /// that were new.
    async fn issue_tickets(&self, tickets: &[TicketRecord]) -> StoreResult<Vec<String>>;
    async fn ticket(&self, id: &str) -> StoreResult<TicketRecord>;
    async fn ticket_by_code(&self, code: &str) -> StoreResult<TicketRecord>;
    /// The booking's tickets, valid and revoked, in issue order.
    async fn tickets_of_booking(&self, booking: BookingId) -> StoreResult<Vec<TicketRecord>>;
    /// The holder's tickets, newest first, and how many there are.
    async fn tickets_of_holder(
        &self,
        holder: UserId,
        page: Page,
    ) -> StoreResult<(Vec<TicketRecord>, i64)>;
    /// Every ticket the holder has held, for an export of their data.
    async fn all_tickets_of_holder(&self, holder: UserId) -> StoreResult<Vec<TicketRecord>>;
    /// Replaces the holder's name on their tickets (erasure); how many changed. The
    /// codes stay valid: an erased account's tickets still admit.
    async fn rename_holder(&self, holder: UserId, name: &str) -> StoreResult<u64>;
    /// Every ticket of the show (the offline gate list).
    async fn tickets_of_show(&self, show: ShowId) -> StoreResult<Vec<TicketRecord>>;
    /// Revokes the booking's valid tickets; the ones it revoked.
    async fn revoke_booking_tickets(
        &self,
        booking: BookingId,
        reason: RevokeReason,
        at: Timestamp,
    ) -> StoreResult<Vec<TicketRecord>>;
    /// Revokes `old` (if still valid and never admitted) and issues `new` in its
    /// place, in one write; `false` when `old` could not be transferred any more.
    async fn transfer_ticket(&self, old: &str, new: &TicketRecord) -> StoreResult<bool>;

    /// Records an online scan that found the ticket good: it admits unless another
    /// scan already did.
    async fn admit(&self, scan: &CheckinRecord) -> StoreResult<Admission>;
    /// Records a scan that does not admit (a refusal, or a later duplicate).
    async fn record_scan(&self, scan: &CheckinRecord) -> StoreResult<()>;
    /// Records a scan uploaded by an offline gate: it becomes the admission on record
    /// if it is earlier than the one there (which then stays as a duplicate).
    async fn merge_offline_scan(&self, scan: &CheckinRecord) -> StoreResult<Admission>;
    /// The admission on record of each of the show's admitted tickets.
    async fn admissions_of_show(&self, show: ShowId) -> StoreResult<Vec<CheckinRecord>>;
    /// The admission on record of one ticket.
    async fn admission_of(&self, ticket: &str) -> StoreResult<Option<CheckinRecord>>;
    async fn attendance(&self, show: ShowId) -> StoreResult<Vec<ZoneAttendance>>;

    async fn insert_checkin_list(&self, list: &CheckinListRecord) -> StoreResult<()>;
    async fn checkin_list(&self, id: &str) -> StoreResult<CheckinListRecord>;
    async fn checkin_lists_of_show(&self, show: ShowId) -> StoreResult<Vec<CheckinListRecord>>;

    /// Whether the show's tickets may be transferred (default: yes).
    async fn transfers_allowed(&self, show: ShowId) -> StoreResult<bool>;
    async fn set_transfers_allowed(
        &self,
        show: ShowId,
        allowed: bool,
        at: Timestamp,
    ) -> StoreResult<()>;
}

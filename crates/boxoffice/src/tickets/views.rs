//! What the tickets and check-in API shows and accepts, and the signed payloads a
//! gate reads without us: the QR claims and the offline list.
use crate::http::contract;
use crate::store::{CheckinListRecord, CheckinRecord, TicketRecord, ZoneAttendance};
use crate::timefmt::rfc3339;
use boxoffice_domain::{ShowId, ZoneId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JWS `typ` of a ticket's QR payload.
pub const QR_TYP: &str = "ticket+jws";
/// The JWS `typ` of an offline check-in list.
pub const LIST_TYP: &str = "checkin-list+jws";

/// What a ticket's QR code carries, signed: enough for a gate to tell a genuine
/// ticket of its show, zone and seat, and whose it is, without a database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TicketClaims {
    /// The ticket's id.
    pub tid: String,
    #[schema(value_type = String, format = Uuid)]
    pub show: ShowId,
    #[schema(value_type = String, format = Uuid)]
    pub zone: ZoneId,
    /// The seat's label, for reserved seating.
    pub seat: Option<String>,
    /// The holder's name, to compare with an ID at the door.
    pub holder: String,
    /// When the ticket was issued (Unix seconds).
    pub iat: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    pub id: String,
    /// The code to type when the QR code cannot be read (24 characters, base32).
    pub code: String,
    #[schema(value_type = String, format = Uuid)]
    pub booking_id: boxoffice_domain::BookingId,
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
    pub seat_label: Option<String>,
    pub holder_name: String,
    #[schema(schema_with = contract::ticket_status)]
    pub status: String,
    /// Why the code no longer opens the door: `cancelled`, `refunded`, `transferred`.
    #[schema(schema_with = contract::revoke_reason_or_null)]
    pub revoke_reason: Option<String>,
    /// The QR code's content: a JWS (`alg: EdDSA`) over [`TicketClaims`], verifiable
    /// with the keys at `/api/v1/keys`. Absent once revoked.
    pub qr: Option<String>,
    #[schema(schema_with = contract::date_time)]
    pub issued_at: String,
    #[schema(schema_with = contract::date_time_or_null)]
    pub revoked_at: Option<String>,
}

impl TicketView {
    pub fn new(t: &TicketRecord, qr: Option<String>) -> Self {
        Self {
            id: t.id.clone(),
            code: t.code.clone(),
            booking_id: t.booking_id,
            show_id: t.show_id,
            zone_id: t.zone_id,
            seat_label: t.seat_label.clone(),
            holder_name: t.holder_name.clone(),
            status: t.status.as_str().into(),
            revoke_reason: t.revoke_reason.map(|r| r.as_str().into()),
            qr,
            issued_at: rfc3339(t.issued_at),
            revoked_at: t.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to_email": "friend@example.com"}))]
pub struct TransferRequest {
    /// The account that receives the ticket (it must exist).
    #[schema(format = Email, max_length = 254)]
    pub to_email: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"transfers_allowed": false}))]
pub struct TicketPolicy {
    /// Whether holders may give their tickets to other accounts.
    pub transfers_allowed: bool,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"show_id": "0190b8a4-7c1e-7000-8000-000000000001", "gate": "north-1", "qr": "eyJhbGciOiJFZERTQSJ9.eyJ0aWQiOiIuLi4ifQ.c2ln"}))]
pub struct ScanRequest {
    /// The show this gate admits to.
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    /// The gate's name, recorded with the scan.
    #[schema(min_length = 1, max_length = 64)]
    pub gate: String,
    /// The check-in list the gate works from (which zones it admits); none: all.
    pub list_id: Option<String>,
    /// The QR code's content. Exactly one of `qr` and `code`.
    #[schema(max_length = 4096)]
    pub qr: Option<String>,
    /// The typed ticket code (dashes and case ignored). Exactly one of `qr` and `code`.
    #[schema(max_length = 64)]
    pub code: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScannedTicket {
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
    pub seat_label: Option<String>,
    pub holder_name: String,
}

impl From<&TicketRecord> for ScannedTicket {
    fn from(t: &TicketRecord) -> Self {
        Self {
            id: t.id.clone(),
            show_id: t.show_id,
            zone_id: t.zone_id,
            seat_label: t.seat_label.clone(),
            holder_name: t.holder_name.clone(),
        }
    }
}

/// When and where a ticket was admitted.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FirstScan {
    #[schema(schema_with = contract::date_time)]
    pub at: String,
    pub gate: String,
    /// Recorded by a gate that was offline at the time.
    pub offline: bool,
}

impl From<&CheckinRecord> for FirstScan {
    fn from(c: &CheckinRecord) -> Self {
        Self {
            at: rfc3339(c.scanned_at),
            gate: c.gate.clone(),
            offline: c.offline,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanView {
    /// `valid` admits; anything else does not.
    #[schema(schema_with = contract::scan_result)]
    pub result: String,
    /// Whether to let the holder in.
    pub admit: bool,
    /// The ticket, when it is known.
    pub ticket: Option<ScannedTicket>,
    /// For `already_used`: the admission on record.
    pub first_scan: Option<FirstScan>,
    /// For `revoked`: why.
    #[schema(schema_with = contract::revoke_reason_or_null)]
    pub revoke_reason: Option<String>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Balcony entrance", "zone_ids": []}))]
pub struct CheckinListInput {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// The zones this list admits; empty: all of the show's zones.
    #[schema(value_type = Vec<String>, max_items = 100)]
    pub zone_ids: Vec<ZoneId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckinListView {
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub zone_ids: Vec<ZoneId>,
    #[schema(schema_with = contract::date_time)]
    pub created_at: String,
}

impl From<&CheckinListRecord> for CheckinListView {
    fn from(l: &CheckinListRecord) -> Self {
        Self {
            id: l.id.clone(),
            show_id: l.show_id,
            name: l.name.clone(),
            zone_ids: l.zone_ids.clone(),
            created_at: rfc3339(l.created_at),
        }
    }
}

/// One ticket in an offline list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OfflineTicket {
    pub id: String,
    /// SHA-256 (hex) of the ticket's code: a typed code is checked without the list
    /// revealing codes.
    pub code_sha256: String,
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
    pub seat_label: Option<String>,
    pub holder_name: String,
    #[schema(schema_with = contract::ticket_status)]
    pub status: String,
}

/// An admission on record, as gates learn it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Admitted {
    pub ticket_id: String,
    #[schema(schema_with = contract::date_time)]
    pub at: String,
    pub gate: String,
}

impl From<&CheckinRecord> for Admitted {
    fn from(c: &CheckinRecord) -> Self {
        Self {
            ticket_id: c.ticket_id.clone(),
            at: rfc3339(c.scanned_at),
            gate: c.gate.clone(),
        }
    }
}

/// What a gate downloads to scan without the network, signed as a whole.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OfflineList {
    pub list: CheckinListView,
    #[schema(schema_with = contract::date_time)]
    pub generated_at: String,
    /// Every ticket of the list's zones, valid and revoked.
    pub tickets: Vec<OfflineTicket>,
    /// Ids of revoked tickets (also marked in `tickets`): refuse these codes.
    pub revoked: Vec<String>,
    /// Tickets already admitted.
    pub admitted: Vec<Admitted>,
}

/// One scan a gate made while offline.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineScan {
    /// The QR code's content. Exactly one of `qr` and `code`.
    #[schema(max_length = 4096)]
    pub qr: Option<String>,
    #[schema(max_length = 64)]
    pub code: Option<String>,
    /// When the gate scanned it, by its own clock.
    #[schema(schema_with = contract::date_time)]
    pub scanned_at: String,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"gate": "north-2", "scans": [{"code": "ABCDEFGHIJKLMNOPQRSTUVWX", "scanned_at": "2027-06-01T19:42:07Z"}]}))]
pub struct SyncRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub gate: String,
    /// Scans made since the last sync, at most 100 per upload (upload more in turn).
    #[schema(max_items = 100)]
    pub scans: Vec<OfflineScan>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SyncView {
    /// One per uploaded scan, in order: what it came to now that all gates are heard.
    pub results: Vec<ScanView>,
    /// Every revoked ticket of the list: refuse these from now on.
    pub revoked: Vec<String>,
    /// Every admission on record, including other gates'.
    pub admitted: Vec<Admitted>,
    #[schema(schema_with = contract::date_time)]
    pub synced_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ZoneAttendanceView {
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
    pub zone_name: String,
    /// Tickets that open the door.
    pub valid: i64,
    pub checked_in: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttendanceView {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    pub valid: i64,
    pub checked_in: i64,
    pub zones: Vec<ZoneAttendanceView>,
}

impl AttendanceView {
    pub fn new(show: ShowId, rows: &[ZoneAttendance], name: impl Fn(ZoneId) -> String) -> Self {
        Self {
            show_id: show,
            valid: rows.iter().map(|r| r.valid).sum(),
            checked_in: rows.iter().map(|r| r.checked_in).sum(),
            zones: rows
                .iter()
                .map(|r| ZoneAttendanceView {
                    zone_id: r.zone_id,
                    zone_name: name(r.zone_id),
                    valid: r.valid,
                    checked_in: r.checked_in,
                })
                .collect(),
        }
    }
}

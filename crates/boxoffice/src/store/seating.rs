//! Storage port of reserved seating: venue layouts drawn once and reused, each show's
//! use of one (zones per price category, blocked seats), and the items of bookings,
//! which say per seat or per zone what a booking bought: tickets are issued from them.
use super::StoreResult;
use async_trait::async_trait;
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::{
    BookingId, LayoutId, Money, OrganizationId, SeatId, ShowId, Timestamp, ZoneId,
};

#[derive(Clone, Debug)]
pub struct LayoutRecord {
    pub id: LayoutId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub created_at: Timestamp,
}

/// One seat of a layout; `idx` orders seats by (row_order, number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutSeatRecord {
    pub id: SeatId,
    pub idx: u32,
    pub section: String,
    pub row_label: String,
    pub row_order: u32,
    pub row_rank: u32,
    pub number: i32,
    pub label: String,
    pub x: i32,
    pub y: i32,
    /// The price category: a show maps it to one of its zones.
    pub category: String,
    pub accessible: bool,
    pub companion: bool,
}

/// How a show uses a layout.
#[derive(Clone, Debug)]
pub struct ShowSeatingRecord {
    pub show_id: ShowId,
    pub layout_id: LayoutId,
    /// `(category, zone)` for every category of the layout.
    pub categories: Vec<(String, ZoneId)>,
    /// Seats never for sale in this show.
    pub blocked: Vec<SeatId>,
    pub updated_at: Timestamp,
}

/// One line of a booking: one seat, or `quantity` admissions to a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingItem {
    pub zone_id: ZoneId,
    pub seat_id: Option<SeatId>,
    pub quantity: u32,
    pub unit_price: Money,
}

/// A booking's line as read back, with its seat's labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingItemRecord {
    pub booking_id: BookingId,
    pub position: u32,
    pub item: BookingItem,
    pub seat: Option<SeatLabels>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatLabels {
    pub section: String,
    pub row: String,
    pub number: i32,
    pub label: String,
}

/// A seat held or sold by a live booking, or an item of a live booking of several
/// items: what the inventory needs beyond the per-zone tallies to rebuild itself.
#[derive(Clone, Debug)]
pub struct LiveItem {
    pub show_id: ShowId,
    pub booking_id: BookingId,
    pub status: BookingStatus,
    pub zone_id: ZoneId,
    pub seat_id: Option<SeatId>,
    pub quantity: u32,
}

#[async_trait]
pub trait SeatingStore: Send + Sync {
    async fn insert_layout(
        &self,
        layout: &LayoutRecord,
        seats: &[LayoutSeatRecord],
    ) -> StoreResult<()>;
    async fn layout(&self, id: LayoutId) -> StoreResult<LayoutRecord>;
    /// A layout's seats in index order.
    async fn layout_seats(&self, id: LayoutId) -> StoreResult<Vec<LayoutSeatRecord>>;
    async fn layouts_of(&self, organization: OrganizationId) -> StoreResult<Vec<LayoutRecord>>;
    /// Sets how a show uses a layout and, in the same transaction, each seated zone's
    /// capacity (its sellable seats).
    async fn put_show_seating(
        &self,
        seating: &ShowSeatingRecord,
        capacities: &[(ZoneId, u32)],
    ) -> StoreResult<()>;
    async fn show_seating(&self, show: ShowId) -> StoreResult<Option<ShowSeatingRecord>>;
    async fn all_show_seatings(&self) -> StoreResult<Vec<ShowSeatingRecord>>;
    /// A booking's lines in order, with seat labels.
    async fn booking_items(&self, booking: BookingId) -> StoreResult<Vec<BookingItemRecord>>;
    /// Lines of live bookings that hold seats or several items.
    async fn live_items(&self) -> StoreResult<Vec<LiveItem>>;
}

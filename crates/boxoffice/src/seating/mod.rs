//! Reserved seating: venue layouts organizers draw once and reuse, each show's seat
//! map built from one, the live status of every seat for clients and an SVG of the map.
mod cache;
pub mod http;
mod service;
mod status;
mod svg;

pub use cache::{SeatingCache, ShowSeats};
pub use service::{
    CategoryZone, LayoutRequest, LayoutRowInput, LayoutSummary, LayoutView, SeatView,
    SeatingService, ShowSeatingRequest, ShowSeatingView, MAX_LAYOUT_SEATS,
};
pub use status::SeatStatusView;

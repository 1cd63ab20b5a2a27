//! Booking: the on-sale hot path. A reserve takes tickets from the in-memory
//! inventory in one atomic step, then waits for the group-commit writer to make the
//! hold durable before answering. Confirm, cancel and expiry go through the same
//! writer, and only change the counters once the store agreed.
mod expiry;
pub mod http;
mod order;
pub mod restore;
mod service;
mod writer;

pub use expiry::expire_due;
pub use order::{BookingItemView, ItemSeatView, ReserveItem};
pub use service::{BookingService, BookingView, ReserveRequest, SalesReport, ZoneSales};
pub use writer::Writer;

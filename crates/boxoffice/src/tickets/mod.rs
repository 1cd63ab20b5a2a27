//! Tickets: what a confirmed booking turns into. E-tickets with signed QR codes that
//! a gate verifies offline, PDFs, transfers, and the door (scans, check-in lists,
//! offline gates and their sync).
mod checkin;
pub use checkin::MAX_UPLOAD;
pub mod codes;
pub mod gate;
pub mod http;
mod projection;
mod qr;
mod render;
mod service;
pub mod views;

pub use projection::{TicketProjection, OUTBOX_CONSUMER};
pub use service::{admissions_of, Admission, TicketService};

//! Pure domain of boxoffice: typed ids, money, time, validation and the rules of
//! bookings and inventory stock. No IO, no async, no framework types — every
//! adapter and service depends on this crate, never the other way round.
#![forbid(unsafe_code)]

pub mod account;
pub mod audit;
pub mod booking;
pub mod catalog;
pub mod ids;
pub mod lifecycle;
pub mod mfa;
pub mod money;
pub mod organization;
pub mod payment;
pub mod queue;
pub mod seating;
pub mod signature;
pub mod stock;
pub mod ticket;
pub mod time;
pub mod validate;
pub mod webhook;

pub use ids::{
    ApiKeyId, BookingId, EventId, InvitationId, LayoutId, OrganizationId, SeatId, ShowId, UserId,
    ZoneId,
};
pub use money::{Currency, Money};
pub use time::Timestamp;
pub use validate::{FieldError, Violations};

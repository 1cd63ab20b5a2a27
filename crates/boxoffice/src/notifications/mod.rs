//! Buyer notifications: the `notifications` outbox consumer turns booking and refund
//! events into an in-app inbox entry and an email (with a per-user hourly limit), so
//! no request path waits on a mail server and a replayed event notifies nobody twice.
pub mod http;
mod projection;
mod service;

pub use projection::{format_money, NotificationProjection};
pub use service::{NotificationService, NotificationView};

/// Name of the notifications consumer's row in `consumer_offsets`.
pub const OUTBOX_CONSUMER: &str = "notifications";

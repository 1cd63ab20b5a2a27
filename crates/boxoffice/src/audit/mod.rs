//! The audit log: an append-only record of who did what to which security- or
//! money-relevant resource, from where and when, for admins and organization owners.
//!
//! Services record typed entries through [`AuditLog`] (one line per action, the request's
//! origin picked up from the scope [`request_scope`] sets); booking transitions, which are
//! on the hot path, are projected from the outbox by [`BookingAuditProjection`] instead.
//! Nothing reaches the log that is a secret or personal data: ids, never emails,
//! passwords, tokens or codes. Retention (pruning old entries) is out of scope: the
//! schema refuses every UPDATE and DELETE.
mod action;
pub mod http;
mod log;
mod projection;

pub use action::{Action, Actor, AuditEntry, Target};
pub use log::{request_scope, AuditEntryView, AuditLog, AuditPage, AuditQuery};
pub use projection::BookingAuditProjection;

/// Name of the audit projection's row in `consumer_offsets`.
pub const OUTBOX_CONSUMER: &str = "audit";

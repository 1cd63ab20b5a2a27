//! Organizations: the tenants that own events, their members and roles, invitations
//! and API keys. `Access` is the one place that decides what a caller may do inside
//! an organization; catalog and booking services ask it rather than compare ids.
mod access;
pub mod http;
pub mod keys;
mod service;

pub use access::Access;
pub use service::{
    ApiKeyCreated, ApiKeyView, Invitation, InvitationView, MemberView, NewApiKey,
    OrganizationService, OrganizationView,
};

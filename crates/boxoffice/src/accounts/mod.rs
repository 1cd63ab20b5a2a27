//! Accounts: registration, login, sessions, rotating refresh tokens, profiles and
//! the account lifecycle (email verification, password reset, lockout). Access tokens
//! are short-lived JWTs verified without a store lookup, which keeps the hot path free
//! of account queries; refresh tokens are opaque, stored hashed and rotated on use.
mod admin;
mod admin_http;
pub mod http;
mod lifecycle;
pub mod mfa;
pub mod password;
pub mod privacy;
mod service;
pub mod tokens;

pub use admin_http::UserQuery;
pub use lifecycle::SessionView;
pub use service::{
    AccountService, AuthTokens, LoginOutcome, MfaLoginTokens, NewAccount, ProfileChange,
    ProvisionedBuyer, UserView,
};
pub use tokens::{Principal, TokenIssuer};

//! The second factor: TOTP (RFC 6238) with backup codes and trusted devices, a
//! two-step login, and the platform policy that can demand MFA of some accounts.
//! A service of its own beside `AccountService`, which calls it after the password.
pub mod http;
mod policy;
mod service;
pub mod totp;

pub use policy::MfaPolicy;
pub use service::{
    BackupCodes, MfaChallenge, MfaService, MfaStatus, SecondFactor, TotpEnrolment,
    TrustedDeviceToken, TrustedDeviceView,
};

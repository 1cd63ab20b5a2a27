//! MFA endpoints under `/api/v1/auth/mfa` and the second login step. Reachable by
//! accounts the MFA policy still blocks elsewhere, so that they can enrol.
use super::{BackupCodes, MfaStatus, SecondFactor, TotpEnrolment, TrustedDeviceView};
use crate::accounts::MfaLoginTokens;
use crate::error::Result;
use crate::http::extract::{AuthPendingMfa, Json, Path};
use crate::http::origin::Origin;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "492039"}))]
pub struct CodeRequest {
    /// The current code of the authenticator app.
    #[schema(schema_with = crate::http::contract::totp_code)]
    pub code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple", "code": "492039"}))]
pub struct DisableRequest {
    #[schema(schema_with = crate::http::contract::password_given)]
    pub password: String,
    /// A current TOTP code; or send `backup_code` instead (exactly one of the two).
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::totp_code_or_null)]
    pub code: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::backup_code_or_null)]
    pub backup_code: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mfa_token": "n6Q0dVq2oK3xY1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p", "code": "492039", "trust_device": true}))]
pub struct LoginMfaRequest {
    /// From the 202 answer of `/auth/login`.
    pub mfa_token: String,
    /// A current TOTP code; or send `backup_code` instead (exactly one of the two).
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::totp_code_or_null)]
    pub code: Option<String>,
    /// A backup code, spent by this login.
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::backup_code_or_null)]
    pub backup_code: Option<String>,
    /// Skip the second step on this device for 30 days: the answer carries a
    /// `trusted_device` token to send at `/auth/login`.
    #[serde(default)]
    pub trust_device: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TrustedDeviceList {
    pub trusted_devices: Vec<TrustedDeviceView>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(start_totp, disable_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(regenerate_backup_codes))
        .routes(routes!(list_trusted_devices, revoke_trusted_devices))
        .routes(routes!(revoke_trusted_device))
        .routes(routes!(login_mfa))
}

/// Whether MFA is on, how many backup codes are left, the trusted devices.
#[utoipa::path(get, path = "/api/v1/auth/mfa", operation_id = "getMfaStatus", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = MfaStatus)))]
async fn status(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
) -> Result<axum::Json<MfaStatus>> {
    Ok(axum::Json(s.mfa.status(who).await?))
}

/// Start TOTP enrolment: a new secret with its `otpauth://` URI and QR code. Not
/// active until confirmed; starting again replaces a pending enrolment.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp", operation_id = "startTotpEnrolment", tag = "mfa", security(("bearer" = [])),
    responses((status = 201, body = TotpEnrolment)))]
async fn start_totp(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
) -> Result<(StatusCode, axum::Json<TotpEnrolment>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.mfa.start_totp(who).await?),
    ))
}

/// Confirm the enrolment with a first code: MFA is on, and the ten backup codes are
/// shown this once. Refresh the tokens afterwards to get a session with MFA.
#[utoipa::path(post, path = "/api/v1/auth/mfa/totp/confirm", operation_id = "confirmTotp", tag = "mfa", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, body = BackupCodes)))]
async fn confirm_totp(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
    Json(r): Json<CodeRequest>,
) -> Result<axum::Json<BackupCodes>> {
    Ok(axum::Json(s.mfa.confirm_totp(who, &r.code).await?))
}

/// Turn MFA off with the password and a current code (or a backup code); revokes
/// every trusted device.
#[utoipa::path(delete, path = "/api/v1/auth/mfa/totp", operation_id = "disableTotp", tag = "mfa", security(("bearer" = [])), request_body = DisableRequest,
    responses((status = 204)))]
async fn disable_totp(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
    Json(r): Json<DisableRequest>,
) -> Result<StatusCode> {
    let factor = SecondFactor::parse(r.code.as_deref(), r.backup_code.as_deref())?;
    s.mfa.disable(who, r.password, factor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the backup codes (the old ones stop working), with a current code.
#[utoipa::path(post, path = "/api/v1/auth/mfa/backup-codes", operation_id = "regenerateBackupCodes", tag = "mfa", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, body = BackupCodes)))]
async fn regenerate_backup_codes(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
    Json(r): Json<CodeRequest>,
) -> Result<axum::Json<BackupCodes>> {
    Ok(axum::Json(
        s.mfa.regenerate_backup_codes(who, &r.code).await?,
    ))
}

/// Devices that skip the second step, newest first.
#[utoipa::path(get, path = "/api/v1/auth/mfa/trusted-devices", operation_id = "listTrustedDevices", tag = "mfa", security(("bearer" = [])),
    responses((status = 200, body = TrustedDeviceList)))]
async fn list_trusted_devices(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
) -> Result<axum::Json<TrustedDeviceList>> {
    Ok(axum::Json(TrustedDeviceList {
        trusted_devices: s.mfa.trusted_devices(who).await?,
    }))
}

/// Revoke every trusted device.
#[utoipa::path(delete, path = "/api/v1/auth/mfa/trusted-devices", operation_id = "revokeTrustedDevices", tag = "mfa", security(("bearer" = [])),
    responses((status = 204)))]
async fn revoke_trusted_devices(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
) -> Result<StatusCode> {
    s.mfa.revoke_trusted_devices(who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke one trusted device.
#[utoipa::path(delete, path = "/api/v1/auth/mfa/trusted-devices/{id}", operation_id = "revokeTrustedDevice", tag = "mfa", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn revoke_trusted_device(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
    Path(id): Path<uuid::Uuid>,
) -> Result<StatusCode> {
    s.mfa.revoke_trusted_device(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Second login step: answer the challenge of a 202 from `/auth/login` with a TOTP
/// code or a backup code.
#[utoipa::path(post, path = "/api/v1/auth/login/mfa", operation_id = "logInMfa", tag = "accounts", request_body = LoginMfaRequest,
    responses((status = 200, body = MfaLoginTokens)))]
async fn login_mfa(
    State(s): State<AppState>,
    origin: Origin,
    Json(r): Json<LoginMfaRequest>,
) -> Result<axum::Json<MfaLoginTokens>> {
    let factor = SecondFactor::parse(r.code.as_deref(), r.backup_code.as_deref())?;
    Ok(axum::Json(
        s.accounts
            .login_mfa(&r.mfa_token, factor, r.trust_device, &origin)
            .await?,
    ))
}

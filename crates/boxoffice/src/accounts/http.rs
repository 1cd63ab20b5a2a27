//! Account endpoints under `/api/v1/auth`.
use super::mfa::MfaChallenge;
use super::privacy::{PersonalDataExport, PrivacyService};
use super::{AuthTokens, LoginOutcome, Principal, ProvisionedBuyer, SessionView, UserView};
use super::{NewAccount, ProfileChange};
use crate::error::{Error, Result};
use crate::http::extract::{bearer, Auth, AuthPendingMfa, Json, Path};
use crate::http::origin::Origin;
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use boxoffice_domain::account::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.com", "password": "correct horse battery staple", "display_name": "Ana Buyer", "role": "buyer"}))]
pub struct RegisterRequest {
    /// Unique: an email already registered is refused (422 on `email`).
    #[schema(schema_with = crate::http::contract::email)]
    pub email: String,
    #[schema(schema_with = crate::http::contract::password)]
    pub password: String,
    #[schema(schema_with = crate::http::contract::display_name)]
    pub display_name: String,
    /// Default: buyer.
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::signup_role)]
    pub role: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.com", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    #[schema(example = "ana@example.com")]
    pub email: String,
    #[schema(schema_with = crate::http::contract::password_given)]
    pub password: String,
    /// A trusted-device token from an earlier `/auth/login/mfa`: a live one of this
    /// account skips the second step; any other value is ignored.
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::trusted_device_token)]
    pub trusted_device: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "q3JxY2VudGx5LXJvdGF0ZWQtdG9rZW4"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Absent or `null` fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"display_name": "Ana B."}))]
pub struct UpdateMeRequest {
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::display_name_change)]
    pub display_name: Option<String>,
    /// Unique: an email already registered is refused (422 on `email`).
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::email_change)]
    pub email: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::password_change)]
    pub password: Option<String>,
    /// Required, and must be right, to change email or password (422 on
    /// `current_password`).
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::current_password)]
    pub current_password: Option<String>,
    /// Kept encrypted at rest; absent leaves it, `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = crate::http::contract::phone_change)]
    pub phone: Option<Option<String>>,
}

/// A field that was sent, `null` included (absent stays `None` through `default`).
fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"count": 100, "prefix": "flash-sale", "password": "correct horse battery staple"}))]
pub struct BulkBuyersRequest {
    #[serde(deserialize_with = "crate::http::extract::integer::u32")]
    #[schema(schema_with = crate::http::contract::bulk_count)]
    pub count: u32,
    /// Emails become `<prefix>-<n>-<random>@buyers.invalid`.
    #[schema(schema_with = crate::http::contract::bulk_prefix)]
    pub prefix: String,
    /// Shared password of the new accounts.
    #[schema(schema_with = crate::http::contract::password)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct BulkBuyersResponse {
    pub buyers: Vec<ProvisionedBuyer>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "Zm9yLWV4YW1wbGUtb25seS1ub3QtYS1yZWFsLXRva2U"}))]
pub struct VerifyEmailRequest {
    /// The code from the verification email (24 hours, single use).
    #[schema(schema_with = crate::http::contract::emailed_token)]
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ana@example.com"}))]
pub struct ForgotPasswordRequest {
    #[schema(schema_with = crate::http::contract::email)]
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "Zm9yLWV4YW1wbGUtb25seS1ub3QtYS1yZWFsLXRva2U", "password": "a new horse battery staple"}))]
pub struct ResetPasswordRequest {
    /// The code from the password reset email (1 hour, single use).
    #[schema(schema_with = crate::http::contract::emailed_token)]
    pub token: String,
    #[schema(schema_with = crate::http::contract::password)]
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "a new horse battery staple"}))]
pub struct ChangePasswordRequest {
    /// Must be right (422 on `current_password`).
    #[schema(schema_with = crate::http::contract::password_given)]
    pub current_password: String,
    #[schema(schema_with = crate::http::contract::password)]
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedSessions {
    /// Sessions signed out.
    #[schema(example = 2)]
    pub revoked: u64,
}

/// The answer of a request whose effect is an email on its way.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    #[schema(example = "accepted; if the address has an account, a message is on its way")]
    pub detail: &'static str,
}

/// The caller, with the session their access token was issued in (none for tokens
/// issued outside a sign-in, such as bulk-provisioned buyers'), held to the MFA policy
/// like [`Auth`](crate::http::extract::Auth).
pub struct SessionAuth(pub Principal, pub Option<String>);

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer(parts).ok_or(Error::Unauthorized(
            "send Authorization: Bearer <access token>",
        ))?;
        let (who, session) = state.accounts.authenticate_in(token)?;
        crate::http::observe::record_account(&who.user);
        state.mfa.policy().check(&who)?;
        Ok(Self(who, session))
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(super::admin_http::routes())
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me, erase_me))
        .routes(routes!(export_me))
        .routes(routes!(bulk_buyers))
        .routes(routes!(request_verification))
        .routes(routes!(verify_email))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions, revoke_other_sessions))
        .routes(routes!(revoke_session))
}

/// Create an account (buyer or organizer) and sign in; a verification email is sent.
/// An organizer starts with an organization of their own, named after them.
#[utoipa::path(post, path = "/api/v1/auth/register", operation_id = "registerAccount", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = AuthTokens)))]
async fn register(
    State(s): State<AppState>,
    origin: Origin,
    Json(r): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<AuthTokens>)> {
    let tokens = s
        .accounts
        .register(
            NewAccount {
                email: r.email,
                password: r.password,
                display_name: r.display_name,
                role: r.role,
            },
            &origin,
        )
        .await?;
    if tokens.user.role == Role::Organizer.as_str() {
        s.organizations
            .create_personal(tokens.user.id, &tokens.user.display_name)
            .await?;
    }
    Ok((StatusCode::CREATED, axum::Json(tokens)))
}

/// Exchange email and password for an access token (15 min) and a refresh token (7 days),
/// opening a session. After 5 consecutive failures for an email, further attempts are
/// refused for a delay that doubles with each failure (1 s up to 15 min) with the same
/// 401 as a wrong password, whether or not the email has an account. An account with
/// MFA gets 202 and a challenge to answer at `/auth/login/mfa`, unless
/// `trusted_device` names a device it trusts.
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "logIn", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = AuthTokens), (status = 202, body = MfaChallenge, description = "The password is right and the account has MFA: send a code with `mfa_token` to `/auth/login/mfa`.")))]
async fn login(
    State(s): State<AppState>,
    origin: Origin,
    Json(r): Json<LoginRequest>,
) -> Result<Response> {
    let outcome = s
        .accounts
        .login(&r.email, r.password, r.trusted_device.as_deref(), &origin)
        .await?;
    Ok(match outcome {
        LoginOutcome::Tokens(t) => axum::Json(t).into_response(),
        LoginOutcome::MfaChallenge(c) => (StatusCode::ACCEPTED, axum::Json(c)).into_response(),
    })
}

/// Rotate a refresh token: the old one stops working; reusing it revokes the login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", operation_id = "refreshTokens", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = AuthTokens)))]
async fn refresh(
    State(s): State<AppState>,
    origin: Origin,
    Json(r): Json<RefreshRequest>,
) -> Result<axum::Json<AuthTokens>> {
    Ok(axum::Json(
        s.accounts.refresh(&r.refresh_token, &origin).await?,
    ))
}

/// End the session of a refresh token: it and every token rotated from the same login stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logOut", tag = "accounts", request_body = RefreshRequest,
    responses((status = 204)))]
async fn logout(State(s): State<AppState>, Json(r): Json<RefreshRequest>) -> Result<StatusCode> {
    s.accounts.logout(&r.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account (reachable before enrolling where MFA is required).
#[utoipa::path(get, path = "/api/v1/auth/me", operation_id = "getMe", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView)))]
async fn me(
    State(s): State<AppState>,
    AuthPendingMfa(who): AuthPendingMfa,
) -> Result<axum::Json<UserView>> {
    let mut me = s.accounts.me(who).await?;
    me.phone = s.privacy.phone(me.id).await?;
    Ok(axum::Json(me))
}

/// Change display name, email, password or phone number. A new email is unverified until confirmed
/// (a verification email is sent); a new password signs out every other session.
#[utoipa::path(put, path = "/api/v1/auth/me", operation_id = "updateMe", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = UserView)))]
async fn update_me(
    State(s): State<AppState>,
    SessionAuth(who, session): SessionAuth,
    Json(r): Json<UpdateMeRequest>,
) -> Result<axum::Json<UserView>> {
    // Every field is checked before anything changes.
    PrivacyService::check_phone(&r.phone)?;
    let change = ProfileChange {
        display_name: r.display_name,
        email: r.email,
        password: r.password,
        current_password: r.current_password,
    };
    let mut me = s
        .accounts
        .update_me(who, session.as_deref(), change)
        .await?;
    me.phone = s.privacy.change_phone(me.id, r.phone).await?;
    Ok(axum::Json(me))
}

/// Everything the platform holds about the signed-in person, as one JSON document
/// to download: profile (phone included), sessions, organizations and roles,
/// bookings, MFA status, API keys they created and their audit log entries. Never a
/// password hash, secret, code or token.
#[utoipa::path(get, path = "/api/v1/auth/me/export", operation_id = "exportMyData", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = PersonalDataExport,
        headers(("Content-Disposition" = String, description = "attachment; filename=\"boxoffice-export-<user id>.json\"")))))]
async fn export_me(
    State(s): State<AppState>,
    SessionAuth(who, session): SessionAuth,
) -> Result<Response> {
    let export = s.privacy.export(who, session.as_deref()).await?;
    let disposition = format!(
        "attachment; filename=\"boxoffice-export-{}.json\"",
        export.profile.id
    );
    Ok((
        [(axum::http::header::CONTENT_DISPOSITION, disposition)],
        axum::Json(export),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "correct horse battery staple"}))]
pub struct EraseMeRequest {
    /// The account's current password (422 on `password` when wrong).
    #[schema(schema_with = crate::http::contract::current_password_required)]
    pub password: String,
}

/// Erase the signed-in account: email, name, phone and password are replaced, the
/// second factor, sessions, trusted devices and memberships removed; bookings stay
/// (financial records). Refused (409 `last-owner`) for the last owner of an
/// organization. Access tokens already issued expire on their own (15 minutes at
/// most); refresh tokens stop at once.
#[utoipa::path(delete, path = "/api/v1/auth/me", operation_id = "eraseMe", tag = "accounts", security(("bearer" = [])), request_body = EraseMeRequest,
    responses((status = 204, description = "Erased")))]
async fn erase_me(
    State(s): State<AppState>,
    SessionAuth(who, _): SessionAuth,
    Json(r): Json<EraseMeRequest>,
) -> Result<StatusCode> {
    s.privacy.erase_me(who, r.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Provision buyer accounts in bulk with ready access tokens (admins; load tests).
#[utoipa::path(post, path = "/api/v1/admin/users/bulk", operation_id = "createBuyers", tag = "admin", security(("bearer" = [])), request_body = BulkBuyersRequest,
    responses((status = 201, body = BulkBuyersResponse)))]
async fn bulk_buyers(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(r): Json<BulkBuyersRequest>,
) -> Result<(StatusCode, axum::Json<BulkBuyersResponse>)> {
    let buyers = s
        .accounts
        .provision_buyers(who, r.count, &r.prefix, r.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(BulkBuyersResponse { buyers }),
    ))
}

/// Send a new verification email to the caller's address (nothing when it is verified).
#[utoipa::path(post, path = "/api/v1/auth/verify-email/request", operation_id = "requestEmailVerification", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, body = Accepted)))]
async fn request_verification(
    State(s): State<AppState>,
    Auth(who): Auth,
) -> Result<(StatusCode, axum::Json<Accepted>)> {
    s.accounts.request_verification(who).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            detail: "accepted; unless the address is verified already, a message is on its way",
        }),
    ))
}

/// Confirm an email address with the code from the verification email.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", operation_id = "verifyEmail", tag = "accounts", request_body = VerifyEmailRequest,
    responses((status = 204)))]
async fn verify_email(
    State(s): State<AppState>,
    Json(r): Json<VerifyEmailRequest>,
) -> Result<StatusCode> {
    s.accounts.verify_email(&r.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a password reset email. Always 202, whether or not the email has an account.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", operation_id = "forgotPassword", tag = "accounts", request_body = ForgotPasswordRequest,
    responses((status = 202, body = Accepted)))]
async fn forgot_password(
    State(s): State<AppState>,
    Json(r): Json<ForgotPasswordRequest>,
) -> Result<(StatusCode, axum::Json<Accepted>)> {
    s.accounts.forgot_password(&r.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Accepted {
            detail: "accepted; if the address has an account, a message is on its way",
        }),
    ))
}

/// Set a new password with the code from the reset email; signs out every session.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", operation_id = "resetPassword", tag = "accounts", request_body = ResetPasswordRequest,
    responses((status = 204)))]
async fn reset_password(
    State(s): State<AppState>,
    Json(r): Json<ResetPasswordRequest>,
) -> Result<StatusCode> {
    s.accounts.reset_password(&r.token, r.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; every other session is signed out, this one stays.
#[utoipa::path(post, path = "/api/v1/auth/password", operation_id = "changePassword", tag = "accounts", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 204)))]
async fn change_password(
    State(s): State<AppState>,
    SessionAuth(who, session): SessionAuth,
    Json(r): Json<ChangePasswordRequest>,
) -> Result<StatusCode> {
    s.accounts
        .change_password(who, session.as_deref(), r.current_password, r.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's sessions (device, address, last use), most recently used first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", operation_id = "listSessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionView>)))]
async fn list_sessions(
    State(s): State<AppState>,
    SessionAuth(who, session): SessionAuth,
) -> Result<axum::Json<Vec<SessionView>>> {
    Ok(axum::Json(
        s.accounts.sessions(who, session.as_deref()).await?,
    ))
}

/// Sign out every session of the caller except the current one.
#[utoipa::path(delete, path = "/api/v1/auth/sessions", operation_id = "revokeOtherSessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = RevokedSessions)))]
async fn revoke_other_sessions(
    State(s): State<AppState>,
    SessionAuth(who, session): SessionAuth,
) -> Result<axum::Json<RevokedSessions>> {
    let revoked = s
        .accounts
        .revoke_other_sessions(who, session.as_deref())
        .await?;
    Ok(axum::Json(RevokedSessions { revoked }))
}

/// Sign out one of the caller's sessions: its refresh token stops working.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", operation_id = "revokeSession", tag = "accounts", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn revoke_session(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<StatusCode> {
    s.accounts.revoke_session(who, &id.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}

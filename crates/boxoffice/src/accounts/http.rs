//! Account endpoints under `/api/v1/auth`.
use super::{AuthTokens, ProvisionedBuyer, UserView};
use super::{NewAccount, ProfileChange};
use crate::error::Result;
use crate::http::extract::{Auth, Json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
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

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(bulk_buyers))
}

/// Create an account (buyer or organizer) and sign in. An organizer starts with an
/// organization of their own, named after them.
#[utoipa::path(post, path = "/api/v1/auth/register", operation_id = "registerAccount", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = AuthTokens)))]
async fn register(
    State(s): State<AppState>,
    Json(r): Json<RegisterRequest>,
) -> Result<(StatusCode, axum::Json<AuthTokens>)> {
    let tokens = s
        .accounts
        .register(NewAccount {
            email: r.email,
            password: r.password,
            display_name: r.display_name,
            role: r.role,
        })
        .await?;
    if tokens.user.role == Role::Organizer.as_str() {
        s.organizations
            .create_personal(tokens.user.id, &tokens.user.display_name)
            .await?;
    }
    Ok((StatusCode::CREATED, axum::Json(tokens)))
}

/// Exchange email and password for an access token (15 min) and a refresh token (7 days).
#[utoipa::path(post, path = "/api/v1/auth/login", operation_id = "logIn", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = AuthTokens)))]
async fn login(
    State(s): State<AppState>,
    Json(r): Json<LoginRequest>,
) -> Result<axum::Json<AuthTokens>> {
    Ok(axum::Json(s.accounts.login(&r.email, r.password).await?))
}

/// Rotate a refresh token: the old one stops working; reusing it revokes the login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", operation_id = "refreshTokens", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = AuthTokens)))]
async fn refresh(
    State(s): State<AppState>,
    Json(r): Json<RefreshRequest>,
) -> Result<axum::Json<AuthTokens>> {
    Ok(axum::Json(s.accounts.refresh(&r.refresh_token).await?))
}

/// Revoke a refresh token and every token rotated from the same login.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logOut", tag = "accounts", request_body = RefreshRequest,
    responses((status = 204)))]
async fn logout(State(s): State<AppState>, Json(r): Json<RefreshRequest>) -> Result<StatusCode> {
    s.accounts.logout(&r.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/auth/me", operation_id = "getMe", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView)))]
async fn me(State(s): State<AppState>, Auth(who): Auth) -> Result<axum::Json<UserView>> {
    Ok(axum::Json(s.accounts.me(who).await?))
}

/// Change display name, email or password.
#[utoipa::path(put, path = "/api/v1/auth/me", operation_id = "updateMe", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = UserView)))]
async fn update_me(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(r): Json<UpdateMeRequest>,
) -> Result<axum::Json<UserView>> {
    let change = ProfileChange {
        display_name: r.display_name,
        email: r.email,
        password: r.password,
        current_password: r.current_password,
    };
    Ok(axum::Json(s.accounts.update_me(who, change).await?))
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

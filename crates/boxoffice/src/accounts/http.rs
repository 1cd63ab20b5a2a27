//! Account endpoints under `/api/v1/auth`.
use super::{AuthTokens, ProvisionedBuyer, UserView};
use super::{NewAccount, ProfileChange};
use crate::state::AppState;
use crate::error::Result;
use crate::http::extract::{Auth, Json};
use crate::http::problem::Problem;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    /// 10 to 128 characters.
    pub password: String,
    pub display_name: String,
    /// `buyer` (default) or `organizer`.
    pub role: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// Required to change email or password.
    pub current_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBuyersRequest {
    /// 1 to 10,000 accounts per call.
    pub count: u32,
    /// Emails become `<prefix>-<n>-<random>@buyers.invalid`.
    pub prefix: String,
    /// Shared password of the new accounts.
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

/// Create an account (buyer or organizer) and sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = AuthTokens), (status = 422, body = Problem, content_type = "application/problem+json")))]
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
    Ok((StatusCode::CREATED, axum::Json(tokens)))
}

/// Exchange email and password for an access token (15 min) and a refresh token (7 days).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = AuthTokens), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn login(
    State(s): State<AppState>,
    Json(r): Json<LoginRequest>,
) -> Result<axum::Json<AuthTokens>> {
    Ok(axum::Json(s.accounts.login(&r.email, r.password).await?))
}

/// Rotate a refresh token: the old one stops working; reusing it revokes the login.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "accounts", request_body = RefreshRequest,
    responses((status = 200, body = AuthTokens), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn refresh(
    State(s): State<AppState>,
    Json(r): Json<RefreshRequest>,
) -> Result<axum::Json<AuthTokens>> {
    Ok(axum::Json(s.accounts.refresh(&r.refresh_token).await?))
}

/// Revoke a refresh token and every token rotated from the same login.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", request_body = RefreshRequest,
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn logout(State(s): State<AppState>, Json(r): Json<RefreshRequest>) -> Result<StatusCode> {
    s.accounts.logout(&r.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn me(State(s): State<AppState>, Auth(who): Auth) -> Result<axum::Json<UserView>> {
    Ok(axum::Json(s.accounts.me(who).await?))
}

/// Change display name, email or password.
#[utoipa::path(put, path = "/api/v1/auth/me", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = UserView), (status = 422, body = Problem, content_type = "application/problem+json")))]
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
#[utoipa::path(post, path = "/api/v1/admin/users/bulk", tag = "admin", security(("bearer" = [])), request_body = BulkBuyersRequest,
    responses((status = 201, body = BulkBuyersResponse), (status = 403, body = Problem, content_type = "application/problem+json")))]
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

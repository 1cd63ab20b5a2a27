//! Admin endpoints over other people's accounts, under `/api/v1/admin/users`: find
//! an account, read it, change its platform role, erase it.
use super::UserView;
use crate::error::{Error, Result};
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::paging::{self, Paged};
use crate::state::AppState;
use crate::store::UserFilter;
use axum::extract::State;
use axum::http::StatusCode;
use boxoffice_domain::account::Role;
use boxoffice_domain::catalog::SEARCH_TEXT;
use boxoffice_domain::{UserId, Violations};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Words in the email or the display name.
    #[param(schema_with = crate::http::contract::search_text)]
    pub q: Option<String>,
    #[param(schema_with = crate::http::contract::role)]
    pub role: Option<String>,
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
    pub per_page: Option<u32>,
}

impl UserQuery {
    /// The filter it asks for, or 422 naming the wrong parameter.
    pub fn filter(&self) -> Result<UserFilter> {
        let mut v = Violations::new();
        // Empty is refused as the document says (the web page leaves empty fields out).
        let text = self
            .q
            .as_deref()
            .and_then(|q| v.check("q", SEARCH_TEXT.parse(q)));
        let role = self
            .role
            .as_deref()
            .and_then(|r| v.check("role", Role::parse(r)));
        v.finish(|| UserFilter { text, role }).map_err(Error::from)
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "organizer"}))]
pub struct PlatformRoleChange {
    /// The new platform role; the account is signed out everywhere.
    #[schema(schema_with = crate::http::contract::role)]
    pub role: String,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, erase_user))
        .routes(routes!(change_role))
}

/// Find accounts by email or name and by role, newest first (admins).
#[utoipa::path(get, path = "/api/v1/admin/users", operation_id = "listUsers", tag = "admin", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = Paged<UserView>)))]
async fn list_users(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<UserQuery>,
) -> Result<axum::Json<Paged<UserView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.accounts.users(who, q.filter()?, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// One account (admins).
#[utoipa::path(get, path = "/api/v1/admin/users/{user_id}", operation_id = "getUser", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, format = Uuid, description = "The account")),
    responses((status = 200, body = UserView)))]
async fn get_user(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(user): Path<UserId>,
) -> Result<axum::Json<UserView>> {
    Ok(axum::Json(s.accounts.user(who, user).await?))
}

/// Change an account's platform role (admins, not their own); the account is signed
/// out everywhere and takes the new role at its next sign-in.
#[utoipa::path(put, path = "/api/v1/admin/users/{user_id}/role", operation_id = "changeUserRole", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, format = Uuid, description = "The account")), request_body = PlatformRoleChange,
    responses((status = 200, body = UserView)))]
async fn change_role(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(user): Path<UserId>,
    Json(r): Json<PlatformRoleChange>,
) -> Result<axum::Json<UserView>> {
    Ok(axum::Json(s.accounts.set_role(who, user, &r.role).await?))
}

/// Erase another account (admins), as `DELETE /auth/me` does without a password.
#[utoipa::path(delete, path = "/api/v1/admin/users/{user_id}", operation_id = "eraseUser", tag = "admin", security(("bearer" = [])),
    params(("user_id" = String, Path, format = Uuid, description = "The account to erase")),
    responses((status = 204, description = "Erased")))]
async fn erase_user(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(user): Path<boxoffice_domain::UserId>,
) -> Result<StatusCode> {
    s.privacy.erase_user(who, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Organization endpoints under `/api/v1/organizations`: the tenant, its members,
//! invitations and API keys. Authorization is the service's; handlers only parse.
use super::{ApiKeyCreated, ApiKeyView, InvitationView, MemberView, NewApiKey, OrganizationView};
use crate::audit::http::AuditQueryParams;
use crate::audit::AuditPage;
use crate::error::Result;
use crate::http::extract::{Auth, Caller, Json, Path, Query};
use crate::http::paging::{self, PageQuery, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use boxoffice_domain::{ApiKeyId, InvitationId, OrganizationId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Lyon Jazz Club"}))]
pub struct OrganizationInput {
    #[schema(schema_with = crate::http::contract::organization_name)]
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "manager"}))]
pub struct RoleChange {
    /// An organization keeps at least one owner (409 `last-owner`).
    #[schema(schema_with = crate::http::contract::member_role)]
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "doors@example.com", "role": "box_office"}))]
pub struct InvitationInput {
    /// The invitation is emailed here; only the account with this email accepts it.
    #[schema(schema_with = crate::http::contract::email)]
    pub email: String,
    #[schema(schema_with = crate::http::contract::member_role)]
    pub role: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q3JxY2VudGx5LXJvdGF0ZWQtdG9rZW4"}))]
pub struct AcceptInput {
    /// The token from the invitation email.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ticket scanner", "scope": "read", "expires_in_days": 90}))]
pub struct ApiKeyInput {
    #[schema(schema_with = crate::http::contract::api_key_name)]
    pub name: String,
    /// `read`: sales and check-in; `write`: also the catalog.
    #[schema(schema_with = crate::http::contract::key_scope)]
    pub scope: String,
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_i64")]
    #[schema(schema_with = crate::http::contract::key_lifetime_days)]
    pub expires_in_days: Option<i64>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_organizations, create_organization))
        .routes(routes!(all_organizations))
        .routes(routes!(get_organization, rename_organization))
        .routes(routes!(list_members))
        .routes(routes!(change_member_role, remove_member))
        .routes(routes!(list_invitations, invite_member))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(organization_audit))
}

/// The organization's audit log, newest first, with the admin route's filters and
/// cursor pagination; the organization is fixed (owners, admins).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/audit", operation_id = "listOrganizationAudit", tag = "organizations", security(("bearer" = [])),
    params(("id" = Uuid, Path), AuditQueryParams),
    responses((status = 200, body = AuditPage)))]
async fn organization_audit(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
    Query(q): Query<AuditQueryParams>,
) -> Result<axum::Json<AuditPage>> {
    Ok(axum::Json(s.organizations.audit(who, id, q.into()).await?))
}

/// The caller's organizations with their role in each (an API key: its own).
#[utoipa::path(get, path = "/api/v1/organizations", operation_id = "listMyOrganizations", tag = "organizations", security(("bearer" = [])),
    responses((status = 200, body = Vec<OrganizationView>)))]
async fn my_organizations(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<axum::Json<Vec<OrganizationView>>> {
    Ok(axum::Json(s.organizations.mine(who).await?))
}

/// Create an organization; the caller becomes its owner (organizers and admins).
#[utoipa::path(post, path = "/api/v1/organizations", operation_id = "createOrganization", tag = "organizations", security(("bearer" = [])), request_body = OrganizationInput,
    responses((status = 201, body = OrganizationView)))]
async fn create_organization(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(r): Json<OrganizationInput>,
) -> Result<(StatusCode, axum::Json<OrganizationView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.organizations.create(who, &r.name).await?),
    ))
}

/// Every organization (admins).
#[utoipa::path(get, path = "/api/v1/admin/organizations", operation_id = "listAllOrganizations", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Paged<OrganizationView>)))]
async fn all_organizations(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Paged<OrganizationView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.organizations.all(who, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// One organization (its members and API keys, admins).
#[utoipa::path(get, path = "/api/v1/organizations/{id}", operation_id = "getOrganization", tag = "organizations", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = OrganizationView)))]
async fn get_organization(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
) -> Result<axum::Json<OrganizationView>> {
    Ok(axum::Json(s.organizations.get(who, id).await?))
}

/// Rename an organization (owners).
#[utoipa::path(put, path = "/api/v1/organizations/{id}", operation_id = "renameOrganization", tag = "organizations", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = OrganizationInput,
    responses((status = 200, body = OrganizationView)))]
async fn rename_organization(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
    Json(r): Json<OrganizationInput>,
) -> Result<axum::Json<OrganizationView>> {
    Ok(axum::Json(s.organizations.rename(who, id, &r.name).await?))
}

/// Members and their roles (members, API keys, admins).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/members", operation_id = "listMembers", tag = "organizations", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<MemberView>)))]
async fn list_members(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
) -> Result<axum::Json<Vec<MemberView>>> {
    Ok(axum::Json(s.organizations.members(who, id).await?))
}

/// Change a member's role (owners); the last owner stays an owner.
#[utoipa::path(put, path = "/api/v1/organizations/{id}/members/{user_id}", operation_id = "changeMemberRole", tag = "organizations", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = RoleChange,
    responses((status = 200, body = MemberView)))]
async fn change_member_role(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, user)): Path<(OrganizationId, UserId)>,
    Json(r): Json<RoleChange>,
) -> Result<axum::Json<MemberView>> {
    Ok(axum::Json(
        s.organizations.change_role(who, id, user, &r.role).await?,
    ))
}

/// Remove a member (owners), or leave (any member, with their own id); the last
/// owner cannot leave.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/members/{user_id}", operation_id = "removeMember", tag = "organizations", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204)))]
async fn remove_member(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, user)): Path<(OrganizationId, UserId)>,
) -> Result<StatusCode> {
    s.organizations.remove_member(who, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open invitations (owners).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/invitations", operation_id = "listInvitations", tag = "organizations", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<InvitationView>)))]
async fn list_invitations(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
) -> Result<axum::Json<Vec<InvitationView>>> {
    Ok(axum::Json(s.organizations.invitations(who, id).await?))
}

/// Invite someone by email with a role (owners); the invitation is valid 72 hours.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/invitations", operation_id = "inviteMember", tag = "organizations", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = InvitationInput,
    responses((status = 201, body = InvitationView)))]
async fn invite_member(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
    Json(r): Json<InvitationInput>,
) -> Result<(StatusCode, axum::Json<InvitationView>)> {
    let invitation = s.organizations.invite(who, id, &r.email, &r.role).await?;
    Ok((StatusCode::CREATED, axum::Json(invitation.view)))
}

/// Withdraw an open invitation (owners).
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/invitations/{invitation_id}", operation_id = "revokeInvitation", tag = "organizations", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("invitation_id" = Uuid, Path)),
    responses((status = 204)))]
async fn revoke_invitation(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, invitation)): Path<(OrganizationId, InvitationId)>,
) -> Result<StatusCode> {
    s.organizations
        .revoke_invitation(who, id, invitation)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Join an organization with the token of an invitation sent to the caller's email.
#[utoipa::path(post, path = "/api/v1/invitations/accept", operation_id = "acceptInvitation", tag = "organizations", security(("bearer" = [])), request_body = AcceptInput,
    responses((status = 200, body = OrganizationView)))]
async fn accept_invitation(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(r): Json<AcceptInput>,
) -> Result<axum::Json<OrganizationView>> {
    Ok(axum::Json(s.organizations.accept(who, &r.token).await?))
}

/// API keys of the organization, live and revoked, without their secrets (owners,
/// managers).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/api-keys", operation_id = "listApiKeys", tag = "organizations", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ApiKeyView>)))]
async fn list_api_keys(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
) -> Result<axum::Json<Vec<ApiKeyView>>> {
    Ok(axum::Json(s.organizations.keys(who, id).await?))
}

/// Create an API key; its token is in this answer only (owners, managers).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/api-keys", operation_id = "createApiKey", tag = "organizations", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ApiKeyInput,
    responses((status = 201, body = ApiKeyCreated)))]
async fn create_api_key(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
    Json(r): Json<ApiKeyInput>,
) -> Result<(StatusCode, axum::Json<ApiKeyCreated>)> {
    let input = NewApiKey {
        name: r.name,
        scope: r.scope,
        expires_in_days: r.expires_in_days,
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(s.organizations.create_key(who, id, input).await?),
    ))
}

/// Revoke an API key at once (owners, managers).
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/api-keys/{key_id}", operation_id = "revokeApiKey", tag = "organizations", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 204)))]
async fn revoke_api_key(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, key)): Path<(OrganizationId, ApiKeyId)>,
) -> Result<StatusCode> {
    s.organizations.revoke_key(who, id, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

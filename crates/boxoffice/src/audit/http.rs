//! The audit log's read-only API: admins query every entry. There is deliberately no
//! route that changes or removes an entry.
use super::log::{AuditPage, AuditQuery};
use crate::error::Result;
use crate::http::extract::{Auth, Query};
use crate::state::AppState;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Filters of an audit query; they combine with AND.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQueryParams {
    /// Entries by this account or API key.
    #[param(schema_with = crate::http::contract::uuid_filter)]
    pub actor: Option<String>,
    /// Entries of this organization.
    #[param(schema_with = crate::http::contract::uuid_filter)]
    pub organization: Option<String>,
    /// An action (`auth.login.failed`) or a prefix ending in a dot (`auth.`).
    #[param(schema_with = crate::http::contract::audit_action_filter)]
    pub action: Option<String>,
    /// Entries about this resource (user, event, show, zone, booking …).
    #[param(schema_with = crate::http::contract::uuid_filter)]
    pub target: Option<String>,
    /// Entries at or after this instant.
    #[param(schema_with = crate::http::contract::date_time)]
    pub from: Option<String>,
    /// Entries before this instant.
    #[param(schema_with = crate::http::contract::date_time)]
    pub to: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::http::contract::audit_cursor)]
    pub cursor: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    #[param(schema_with = crate::http::contract::audit_limit)]
    pub limit: Option<u32>,
}

impl From<AuditQueryParams> for AuditQuery {
    fn from(q: AuditQueryParams) -> Self {
        Self {
            actor: q.actor,
            organization: q.organization,
            action: q.action,
            target: q.target,
            from: q.from,
            to: q.to,
            cursor: q.cursor,
            limit: q.limit,
        }
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The audit log, newest first, with cursor pagination (admins only).
#[utoipa::path(get, path = "/api/v1/admin/audit", operation_id = "listAuditEntries", tag = "admin", security(("bearer" = [])), params(AuditQueryParams),
    responses((status = 200, body = AuditPage)))]
async fn list(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<AuditQueryParams>,
) -> Result<axum::Json<AuditPage>> {
    Ok(axum::Json(s.audit.search(who, q.into()).await?))
}

//! The signed-in user's notifications under `/api/v1/notifications`.
use super::NotificationView;
use crate::error::Result;
use crate::http::extract::{Auth, Path, Query};
use crate::http::paging::{self, Paged};
use crate::state::AppState;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NotificationParams {
    /// Only notifications not yet read.
    pub unread: Option<bool>,
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
    pub per_page: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct MarkedRead {
    /// Notifications that were unread until now.
    #[schema(minimum = 0, example = 3)]
    pub marked: u64,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", operation_id = "listNotifications", tag = "notifications", security(("bearer" = [])),
    params(NotificationParams),
    responses((status = 200, body = Paged<NotificationView>)))]
async fn list(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<NotificationParams>,
) -> Result<axum::Json<Paged<NotificationView>>> {
    let page = paging::page(q.page, q.per_page)?;
    Ok(axum::Json(
        s.notifications
            .list(who, q.unread.unwrap_or(false), page)
            .await?,
    ))
}

/// Marks one of the caller's notifications read (a second time changes nothing).
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", operation_id = "markNotificationRead", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = NotificationView)))]
async fn mark_read(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<axum::Json<NotificationView>> {
    Ok(axum::Json(
        s.notifications.mark_read(who, &id.to_string()).await?,
    ))
}

/// Marks every notification of the caller read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", operation_id = "markAllNotificationsRead", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = MarkedRead)))]
async fn mark_all_read(
    State(s): State<AppState>,
    Auth(who): Auth,
) -> Result<axum::Json<MarkedRead>> {
    Ok(axum::Json(MarkedRead {
        marked: s.notifications.mark_all_read(who).await?,
    }))
}

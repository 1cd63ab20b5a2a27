//! The door: a phone-sized check-in page for an organization's box-office staff. Scan
//! with the camera where the browser can read QR codes, or type the ticket's code; the
//! answer (valid, already used, wrong show …) fills the screen in its colour.
use super::view::{Ctx, Submitted};
use crate::error::Error;
use crate::tickets::views::ScanRequest;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use boxoffice_domain::ShowId;
use minijinja::context;
use serde::Deserialize;

/// Shows of the viewer's organizations, soonest first.
pub(super) async fn shows(ctx: Ctx) -> Response {
    let viewer = match ctx.require_viewer() {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let state = ctx.state.clone();
    let orgs = match state.organizations.mine(viewer.principal).await {
        Ok(o) => o,
        Err(e) => return ctx.failure(e),
    };
    let mut rows = Vec::new();
    for (org, event) in super::organize::events_of(&state, &orgs).await {
        for show in state
            .catalog
            .shows_of_event(event.id)
            .await
            .unwrap_or_default()
        {
            rows.push(context! { org => org.clone(), event => event.title.clone(), show => show });
        }
    }
    ctx.page(
        "door_shows.html",
        context! { title => "Door", rows => rows },
    )
}

pub(super) async fn gate(ctx: Ctx, Path(id): Path<String>) -> Response {
    gate_page(ctx, id, None, None, StatusCode::OK).await
}

async fn gate_page(
    ctx: Ctx,
    id: String,
    gate: Option<String>,
    scan: Option<minijinja::Value>,
    status: StatusCode,
) -> Response {
    let (viewer, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    // Only the show's door staff (and organizers, admins) see its figures.
    let attendance = match ctx
        .state
        .tickets
        .attendance(viewer.principal, show_id)
        .await
    {
        Ok(a) => a,
        Err(e) => return ctx.failure(e),
    };
    let show = match ctx.state.catalog.show(show_id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let event = ctx.state.catalog.event(show.event_id).await.ok();
    ctx.render(
        status,
        "door.html",
        context! {
            title => "Check-in",
            show => show,
            event => event,
            attendance => attendance,
            gate => gate.unwrap_or_else(|| "web".to_owned()),
            scan => scan,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct ScanForm {
    gate: Option<String>,
    code: Option<String>,
    qr: Option<String>,
}

pub(super) async fn scan(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<ScanForm>,
) -> Response {
    let (viewer, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let gate = form
        .gate
        .map(|g| g.trim().to_owned())
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| "web".to_owned());
    let (qr, code) = match (
        form.qr.filter(|q| !q.trim().is_empty()),
        form.code.filter(|c| !c.trim().is_empty()),
    ) {
        (Some(qr), _) => (Some(qr), None),
        (None, code) => (None, code),
    };
    if qr.is_none() && code.is_none() {
        let scan = context! { result => "missing", message => "Type the ticket's code or scan its QR code." };
        return gate_page(
            ctx,
            id,
            Some(gate),
            Some(scan),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let request = ScanRequest {
        show_id,
        gate: gate.clone(),
        list_id: None,
        qr,
        code,
    };
    match ctx.state.tickets.scan(viewer.principal, request).await {
        Ok(view) => {
            let scan = context! { result => view.result, admit => view.admit, ticket => view.ticket, first => view.first_scan, revoke_reason => view.revoke_reason };
            gate_page(ctx, id, Some(gate), Some(scan), StatusCode::OK).await
        }
        Err(Error::Validation(fields)) => {
            let message = fields
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            let scan = context! { result => "missing", message => format!("That is not a ticket: {message}.") };
            gate_page(
                ctx,
                id,
                Some(gate),
                Some(scan),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => ctx.failure(e),
    }
}

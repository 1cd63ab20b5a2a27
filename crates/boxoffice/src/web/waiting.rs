//! The waiting room's page: join a queued show, watch the place move (pushed over SSE,
//! or a link to look again without JavaScript), and once admitted reserve with
//! the pass the page carries, before it expires.
use super::pages::NoFields;
use super::view::{in_words, Ctx, Submitted};
use crate::catalog::ShowView;
use crate::error::Error;
use crate::http::origin::Origin;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use boxoffice_domain::queue::QueueMethod;
use boxoffice_domain::ShowId;
use minijinja::context;

/// Whether `show` lets buyers in through a waiting room (not a passthrough one).
pub(super) fn queued(ctx: &Ctx, show: ShowId) -> bool {
    ctx.state
        .queue
        .get(show)
        .is_ok_and(|q| QueueMethod::parse(&q.method) != Some(QueueMethod::Passthrough))
}

pub(super) async fn page(ctx: Ctx, Path(id): Path<String>) -> Response {
    show_page(ctx, id, None, StatusCode::OK).await
}

pub(super) async fn show_page(
    ctx: Ctx,
    id: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (viewer, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let show: ShowView = match ctx.state.catalog.show(show_id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    ctx.state.queue.know(show_id).await;
    let queue = match ctx.state.queue.get(show_id) {
        Ok(q) => q,
        Err(e) => return ctx.failure(e),
    };
    let event = ctx.state.catalog.event(show.event_id).await.ok();
    let place = match ctx.state.queue.snapshot(&viewer.principal, show_id) {
        Ok(p) => Some(p),
        Err(Error::NotFound(_)) => None,
        Err(e) => return ctx.failure(e),
    };
    let waiting = place.as_ref().is_some_and(|p| p.status == "waiting");
    // Without the script, the page asks the buyer to look again at the queue's pace.
    let refresh = place
        .as_ref()
        .filter(|_| waiting)
        .map(|p| p.poll_after_secs.clamp(5, 60));
    let limit: Vec<u32> = (1..=show.per_user_limit.min(10)).collect();
    ctx.render(
        status,
        "queue.html",
        context! {
            title => "Waiting room",
            show => show,
            event => event,
            queue => queue,
            place => place,
            refresh => refresh,
            limit => limit,
            error => error,
        },
    )
}

pub(super) async fn join(
    origin: Origin,
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    match ctx
        .state
        .queue
        .join(&viewer.principal, show, origin.ip)
        .await
    {
        Ok(_) => Redirect::to(&format!("/shows/{show}/queue")).into_response(),
        Err(e) => {
            let message = in_words(&e);
            show_page(ctx, id, Some(message), StatusCode::CONFLICT).await
        }
    }
}

pub(super) async fn leave(
    Path(id): Path<String>,
    Submitted { ctx, .. }: Submitted<NoFields>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    match ctx.state.queue.leave(&viewer.principal, show).await {
        Ok(_) => Redirect::to(&format!("/shows/{show}/queue")).into_response(),
        Err(e) => {
            let message = in_words(&e);
            show_page(ctx, id, Some(message), StatusCode::CONFLICT).await
        }
    }
}

/// The viewer's place as Server-Sent Events (the API's stream, on the session).
pub(super) async fn live(ctx: Ctx, Path(id): Path<String>) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    match crate::queue::events::follow(ctx.state.queue.clone(), viewer.principal, show) {
        Ok(events) => events.into_response(),
        Err(e) => ctx.failure(e),
    }
}
